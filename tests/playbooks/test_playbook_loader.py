"""The loader: valid playbooks load and round-trip; each broken one names file:line:column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from orchestrator.actions.registry import default_registry
from orchestrator.errors import PlaybookError, ValidationFailed
from orchestrator.events.schemas import CompromiseEvent, Entities, Severity
from orchestrator.playbooks import (
    Playbook,
    load_playbook,
    load_playbooks,
    parse_playbook,
    playbook_json_schema,
)
from orchestrator.playbooks.json_schema import validation_errors

VALID = Path(__file__).parent / "valid"
REGISTRY = default_registry()

HEAD = """name: t
trigger:
  manual:
    inputs:
      reason: {type: string, required: true}
steps:
"""
NOTE = "    with: {message: hi}\n"

# (case, steps section appended to HEAD, exact error)
BROKEN: list[tuple[str, str, str]] = [
    (
        "unknown action, close name",
        "  - id: a\n    action: http.pst\n",
        "pb.yaml:8:13: unknown action 'http.pst' (did you mean 'http.post'?)",
    ),
    (
        "unknown action, nothing close",
        "  - id: a\n    action: zzz\n",
        "pb.yaml:8:13: unknown action 'zzz'; available actions: " + ", ".join(REGISTRY.names()),
    ),
    (
        "bad template syntax",
        '  - id: a\n    action: note\n    with:\n      message: "{{ event.kind "\n',
        "pb.yaml:10:16: step 'a' with.message: bad template syntax: unexpected end of "
        "template, expected 'end of print statement'.",
    ),
    (
        "undefined template root",
        '  - id: a\n    action: note\n    with:\n      message: "{{ evnt.kind }}"\n',
        "pb.yaml:10:16: step 'a' with.message: undefined variable 'evnt' (did you mean "
        "'event'?); templates may read event, incident, inputs, steps, run",
    ),
    (
        "unknown input",
        '  - id: a\n    action: note\n    with:\n      message: "{{ inputs.reson }}"\n',
        "pb.yaml:10:16: step 'a' with.message: unknown input 'reson' (did you mean "
        "'reason'?); inputs: reason",
    ),
    (
        "step that runs later",
        '  - id: a\n    action: note\n    with:\n      message: "{{ steps.b.output }}"\n'
        "  - id: b\n    action: note\n" + NOTE,
        "pb.yaml:10:16: step 'a' with.message: step 'b' does not run before step 'a'",
    ),
    (
        "unknown step",
        '  - id: a\n    action: note\n    with:\n      message: "{{ steps.zz.output }}"\n',
        "pb.yaml:10:16: step 'a' with.message: unknown step 'zz'",
    ),
    (
        "sibling in the same parallel block",
        "  - parallel:\n      id: p\n      steps:\n        - id: a\n          action: note\n"
        "          with: {message: hi}\n        - id: b\n          action: note\n"
        '          with: {message: "{{ steps.a.output.message }}"}\n',
        "pb.yaml:15:27: step 'b' with.message: step 'a' does not run before step 'b'",
    ),
    (
        "missing required key",
        "  - id: a\n" + NOTE,
        "pb.yaml:7:5: step 'a' is missing required key 'action'",
    ),
    (
        "duplicate step id",
        "  - id: a\n    action: note\n" + NOTE + "  - id: a\n    action: note\n" + NOTE,
        "pb.yaml:10:9: duplicate step id 'a' (first at line 7)",
    ),
    (
        "unknown key",
        "  - id: a\n    action: note\n    retires: 3\n" + NOTE,
        "pb.yaml:9:5: unknown key 'retires' in step 'a' (did you mean 'retry'?); valid keys: "
        "id, action, with, description, when, retry, timeout, on_failure, approval",
    ),
    (
        "wrong type",
        "  - id: a\n    action: note\n" + NOTE + "    retry: 3\n",
        "pb.yaml:10:12: 'retry' in step 'a' must be a mapping, got an integer",
    ),
    (
        "invalid YAML",
        "  - id: a\n    action: note\n    with: {message: hi\n",
        "pb.yaml:10:1: invalid YAML: expected ',' or '}', but got '<stream end>'",
    ),
    (
        "duplicate mapping key",
        "  - id: a\n    action: note\n    action: log\n" + NOTE,
        "pb.yaml:9:5: duplicate key 'action' (first at line 8, column 5)",
    ),
    (
        "missing action param",
        "  - id: a\n    action: note\n    with: {}\n",
        "pb.yaml:9:11: step 'a': action 'note' needs param 'message'",
    ),
    (
        "unknown action param",
        "  - id: a\n    action: note\n    with: {mesage: hi}\n",
        "pb.yaml:9:12: unknown param 'mesage' for action 'note' (did you mean 'message'?); "
        "params: message, data",
    ),
    (
        "literal param out of range",
        "  - id: a\n    action: wait\n    with: {seconds: 100000}\n",
        "pb.yaml:9:21: step 'a' param 'seconds': Input should be less than or equal to 900",
    ),
    (
        "on_failure cycle",
        "  - id: a\n    action: note\n" + NOTE + "    on_failure: {run: [h1]}\nhandlers:\n"
        "  - id: h1\n    action: note\n" + NOTE + "    on_failure: {run: [h2]}\n"
        "  - id: h2\n    action: note\n" + NOTE + "    on_failure: {run: [h1]}\n",
        "pb.yaml:19:17: on_failure cycle: h1 -> h2 -> h1",
    ),
    (
        "on_failure names a main step",
        "  - id: a\n    action: note\n" + NOTE + "    on_failure: {run: [b]}\n"
        "  - id: b\n    action: note\n" + NOTE,
        "pb.yaml:10:24: 'b' is a main step; on_failure can only run steps listed under 'handlers:'",
    ),
    (
        "on_failure names an unknown handler",
        "  - id: a\n    action: note\n" + NOTE + "    on_failure: {run: [h]}\n",
        "pb.yaml:10:24: unknown handler 'h'; handlers: none",
    ),
    (
        "bad duration",
        "  - id: a\n    action: note\n" + NOTE + "    timeout: 5 minutes\n",
        "pb.yaml:10:14: step 'a' timeout: invalid duration '5 minutes': use seconds or a "
        "string like '30s' or '5m'",
    ),
    (
        "bad when expression",
        "  - id: a\n    action: note\n" + NOTE + '    when: "event.kind =="\n',
        "pb.yaml:10:11: step 'a' when: bad template syntax: unexpected 'end of print statement'",
    ),
    (
        "step id not usable in templates",
        "  - id: a-b\n    action: note\n" + NOTE,
        "pb.yaml:7:9: step id 'a-b' must start with a letter or '_' and hold only letters, "
        "digits and '_' (templates read it as steps.<id>)",
    ),
    (
        "retry attempts below one",
        "  - id: a\n    action: note\n" + NOTE + "    retry: {attempts: 0}\n",
        "pb.yaml:10:23: step 'a' retry.attempts: Input should be greater than or equal to 1",
    ),
    (
        "bad approval timeout behaviour",
        "  - id: a\n    action: note\n" + NOTE + "    approval: {on_timeout: maybe}\n",
        "pb.yaml:10:28: step 'a' approval.on_timeout: Input should be 'deny', 'approve' or 'abort'",
    ),
    ("no steps", " []\n", "pb.yaml:6:8: a playbook needs at least one step"),
]


@pytest.mark.parametrize(("case", "steps", "message"), BROKEN, ids=[c[0] for c in BROKEN])
def test_broken_playbook_names_file_line_and_column(case: str, steps: str, message: str) -> None:
    text = HEAD.rstrip("\n") + steps if steps.startswith(" [") else HEAD + steps
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, "pb.yaml", registry=REGISTRY)
    assert str(caught.value) == message


TOP_LEVEL: list[tuple[str, str, str]] = [
    ("empty file", "", "pb.yaml:1:1: the file is empty; a playbook is a mapping"),
    ("not a mapping", "- a\n", "pb.yaml:1:1: playbook must be a mapping, got a list"),
    (
        "missing trigger",
        "name: t\nsteps: []\n",
        "pb.yaml:1:1: playbook is missing required key 'trigger'",
    ),
    (
        "unknown top-level key",
        "name: t\ntriger: {}\n",
        "pb.yaml:2:1: unknown key 'triger' in playbook (did you mean 'trigger'?); valid keys: "
        "name, description, version, trigger, steps, handlers",
    ),
    (
        "two triggers",
        "name: t\ntrigger: {match: {}, manual: {}}\nsteps: []\n",
        "pb.yaml:2:10: trigger needs exactly one of 'match' or 'manual'",
    ),
    (
        "bad severity",
        "name: t\ntrigger:\n  match: {min_severity: urgent}\nsteps:\n  - id: a\n    action: note\n" + NOTE,
        "pb.yaml:3:25: trigger.match.min_severity: Input should be 'info', 'low', 'medium', "
        "'high' or 'critical'",
    ),
    (
        "choice input without choices",
        "name: t\ntrigger:\n  manual:\n    inputs:\n      x: {type: choice}\nsteps:\n"
        "  - id: a\n    action: note\n" + NOTE,
        "pb.yaml:5:10: trigger.manual.inputs.x: an input of type 'choice' needs a non-empty 'choices' list",
    ),
    (
        "input name not usable in templates",
        "name: t\ntrigger:\n  manual:\n    inputs:\n      bad-name: {}\nsteps:\n"
        "  - id: a\n    action: note\n" + NOTE,
        "pb.yaml:5:7: input name 'bad-name' must hold only letters, digits and '_' "
        "(templates read it as inputs.<name>)",
    ),
    (
        "alias expansion bomb",
        "name: t\nx0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
        + "".join(
            f"x{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]\n"
            for i in range(1, 9)
        ),
        "pb.yaml:2:5: playbook too large or too deeply nested (over 50000 values or 40 levels)",
    ),
    (
        "input on a match playbook",
        "name: t\ntrigger:\n  match: {}\nsteps:\n  - id: a\n    action: note\n"
        '    with: {message: "{{ inputs.x }}"}\n',
        "pb.yaml:7:21: step 'a' with.message: unknown input 'x'; inputs: none: only manual "
        "playbooks have inputs",
    ),
]


@pytest.mark.parametrize(("case", "text", "message"), TOP_LEVEL, ids=[c[0] for c in TOP_LEVEL])
def test_broken_top_level_names_file_line_and_column(case: str, text: str, message: str) -> None:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, "pb.yaml", registry=REGISTRY)
    assert str(caught.value) == message


def test_templated_param_is_checked_at_run_time_not_load_time() -> None:
    playbook = parse_playbook(
        HEAD + '  - id: a\n    action: wait\n    with: {seconds: "{{ inputs.reason }}"}\n', registry=REGISTRY
    )
    assert playbook.step("a").with_ == {"seconds": "{{ inputs.reason }}"}


def test_valid_playbooks_load_by_name() -> None:
    playbooks = load_playbooks([VALID], registry=REGISTRY)
    assert sorted(playbooks) == ["manual-note", "token-leak"]
    leak = playbooks["token-leak"]
    assert [s.id for s in leak.iter_steps()] == [
        "announce",
        "hook",
        "log_it",
        "pause",
        "done",
        "tell_humans",
    ]
    assert leak.step("hook").timeout == 30.0
    assert leak.step("hook").retry.delay(1) == 2.0
    approval = leak.step("pause").approval
    assert approval is not None
    assert (approval.approvers, approval.timeout, approval.on_timeout) == (("U123",), 900.0, "abort")


@pytest.mark.parametrize("path", sorted(VALID.iterdir()), ids=lambda p: p.name)
def test_playbook_json_round_trip_keeps_content_hash(path: Path) -> None:
    playbook = load_playbook(path, registry=REGISTRY)
    stored = json.loads(json.dumps(playbook.model_dump(mode="json", by_alias=True)))
    again = Playbook.model_validate(stored)
    assert again == playbook
    assert again.content_hash() == playbook.content_hash()
    assert playbook.content_hash().startswith("sha256:")


@pytest.mark.parametrize("path", sorted(VALID.iterdir()), ids=lambda p: p.name)
def test_valid_playbooks_fit_the_published_json_schema(path: Path) -> None:
    assert validation_errors(yaml.safe_load(path.read_text())) == []


def test_published_schema_is_a_valid_json_schema() -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(playbook_json_schema())


def test_duplicate_playbook_names_across_files_point_at_the_second(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.yaml").write_text(
            "name: same\ntrigger: {match: {}}\nsteps:\n  - id: a\n    action: note\n" + NOTE
        )
    with pytest.raises(PlaybookError) as caught:
        load_playbooks([tmp_path / "a", tmp_path / "b"], registry=REGISTRY)
    assert str(caught.value) == (
        f"{tmp_path}/b/x.yaml:1:7: duplicate playbook name 'same' (also defined at {tmp_path}/a/x.yaml:1:7)"
    )


def test_one_file_reached_through_two_paths_is_one_playbook_not_a_duplicate(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.yaml").write_text(
        "name: same\ntrigger: {match: {}}\nsteps:\n  - id: a\n    action: note\n" + NOTE
    )
    (tmp_path / "link").symlink_to(tmp_path / "a")
    books = load_playbooks(
        [tmp_path / "a", tmp_path / "link", tmp_path / "a" / ".." / "a"], registry=REGISTRY
    )
    assert list(books) == ["same"]


def _event(**changes: object) -> CompromiseEvent:
    base: dict[str, object] = {
        "source": "splunk",
        "kind": "token.leak",
        "severity": Severity.CRITICAL,
        "title": "t",
        "observed_at": "2026-11-26T16:00:00Z",
        "received_at": "2026-11-26T16:00:01Z",
        "dedup_key": "k",
        "entities": Entities(open_ids=["o1"]),
    }
    return CompromiseEvent.model_validate({**base, **changes})


@pytest.mark.parametrize(
    ("changes", "matches"),
    [
        ({}, True),
        ({"kind": "credential_leak"}, True),
        ({"kind": "login.failed"}, False),
        ({"severity": Severity.MEDIUM}, False),
        ({"entities": Entities()}, False),
    ],
)
def test_match_trigger_checks_kind_glob_severity_and_entities(
    changes: dict[str, object], matches: bool
) -> None:
    assert load_playbook(VALID / "token_leak.yaml", registry=REGISTRY).matches(_event(**changes)) is matches


def test_manual_inputs_are_typed_and_defaulted() -> None:
    playbook = load_playbook(VALID / "manual_note.yml", registry=REGISTRY)
    assert playbook.resolve_inputs({"text": "hi", "times": "3", "tags": "a, b"}) == {
        "text": "hi",
        "times": 3,
        "loud": False,
        "tone": "calm",
        "tags": ["a", "b"],
    }
    with pytest.raises(ValidationFailed, match="input 'text' is required"):
        playbook.resolve_inputs({})
    with pytest.raises(ValidationFailed) as caught:
        playbook.resolve_inputs({"text": "x", "loud": "perhaps"})
    assert str(caught.value) == "input 'loud': 'perhaps' is not a valid bool"
    assert caught.value.field == "loud"
    with pytest.raises(ValidationFailed, match="unknown input 'txt'"):
        playbook.resolve_inputs({"txt": "x"})
