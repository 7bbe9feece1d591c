"""``orchestrator simulate``: run simulated outside systems (today: TikTok) in the foreground.

Use it to rehearse a compromise without touching TikTok: point the orchestrator's TikTok base
URL at the printed address, seed tokens, then break things on purpose (rate limits, outages)
through the flags or, while it runs, through ``POST /_simulator/options``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator

__all__ = ["simulate"]

_DEFAULTS = SimulatorOptions()


@click.group()
def simulate() -> None:
    """Run simulated outside systems for demos, drills and benchmarks."""


@simulate.command("tiktok")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, help="Port (0 picks a free one).")
@click.option(
    "--rate-limit",
    "rate_limit",
    default=0,
    show_default=True,
    help="Requests per sliding minute on revoke and user-info, like TikTok's 600/min "
    "default (0 = unlimited).",
)
@click.option("--latency-ms", default=0.0, show_default=True, help="Delay added to every answer.")
@click.option("--error-rate", default=0.0, show_default=True, help="Share of answers that are 500/503.")
@click.option(
    "--inject-429-rate",
    default=0.0,
    show_default=True,
    help="Share of answers that are random 429s (with Retry-After, see --retry-after).",
)
@click.option(
    "--retry-after",
    default=1.0,
    show_default=True,
    help="Seconds sent in Retry-After on 429s (negative = send no header, as TikTok documents none).",
)
@click.option(
    "--dead-token-behaviour",
    type=click.Choice(["empty", "error"]),
    default="error",
    show_default=True,
    help="What revoke answers for an expired/revoked/unknown token: 'empty' = 200 {} "
    "(and the grant is revoked), 'error' = an access_token_invalid error.",
)
@click.option("--errors-with-200", is_flag=True, help="Answer OAuth errors with HTTP 200, as TikTok has.")
@click.option("--access-ttl", default=86_400.0, show_default=True, help="Access token lifetime (s).")
@click.option("--seed-tokens", default=0, show_default=True, help="Authorisations to create at start.")
@click.option(
    "--tokens-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("tiktok-sim-tokens.jsonl"),
    show_default=True,
    help="JSON-lines file for the seeded tokens (open_id, access_token, refresh_token, "
    "expires_at). Simulator tokens only: never real ones.",
)
@click.option("--client-key", default=_DEFAULTS.client_key, show_default=True)
@click.option("--client-secret", default=_DEFAULTS.client_secret, show_default=True)
@click.option("--seed", default=0, show_default=True, help="Seed for tokens and random faults.")
def tiktok(
    host: str,
    port: int,
    rate_limit: int,
    latency_ms: float,
    error_rate: float,
    inject_429_rate: float,
    retry_after: float,
    dead_token_behaviour: str,
    errors_with_200: bool,
    access_ttl: float,
    seed_tokens: int,
    tokens_out: Path,
    client_key: str,
    client_secret: str,
    seed: int,
) -> None:
    """Serve TikTok's OAuth v2, user-info and Marketing API revoke endpoints until Ctrl-C.

    \b
    Endpoints: POST /v2/oauth/revoke/, POST /v2/oauth/token/, GET /v2/user/info/,
    POST /open_api/v1.3/oauth2/revoke_token/ (Marketing API).
    Control:   GET /_simulator/stats, POST /_simulator/tokens {"count": N},
               POST /_simulator/options {"error_rate": 1.0} (outage) ... {"error_rate": 0},
               POST /_simulator/expire {"access_token": "..."}.

    \b
    Example: a TikTok that throttles like production and drops 1% of requests:
        orchestrator simulate tiktok --rate-limit 600 --error-rate 0.01 --seed-tokens 5000
    """
    options = SimulatorOptions(
        client_key=client_key,
        client_secret=client_secret,
        rate_limit_per_minute=rate_limit,
        latency_ms=latency_ms,
        error_rate=error_rate,
        inject_429_rate=inject_429_rate,
        retry_after_seconds=retry_after if retry_after >= 0 else None,
        access_ttl_seconds=access_ttl,
        dead_token_behaviour="empty" if dead_token_behaviour == "empty" else "error",
        errors_with_200=errors_with_200,
        seed=seed,
    )
    simulator = TikTokSimulator(options, host=host, port=port)
    simulator.start()
    try:
        click.echo(f"TikTok simulator listening on {simulator.base_url}")
        if seed_tokens > 0:
            with tokens_out.open("w", encoding="utf-8") as out:
                for record in simulator.iter_issue_tokens(seed_tokens):
                    out.write(json.dumps(record.as_json()) + "\n")
            click.echo(f"seeded {seed_tokens} authorisations; tokens written to {tokens_out}")
        click.echo("Press Ctrl-C to stop.")
        simulator.wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        simulator.stop()
