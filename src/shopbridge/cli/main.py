"""The `shopbridge` command line.

Bad arguments and configuration problems end with one `error: …` line and a non-zero exit,
never a traceback: operators read this at 2 a.m.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Coroutine
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from fastapi import FastAPI
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from shopbridge import __version__, heap
from shopbridge.config import Settings, get_settings

app = typer.Typer(
    name="shopbridge",
    help="ShopBridge: one API for every sales platform. Run `shopbridge serve --demo` to try it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    add_completion=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys, and the data keys that encrypt buyer data.", no_args_is_help=True
)
shops_app = typer.Typer(help="Connected shops.", no_args_is_help=True)
events_app = typer.Typer(help="Outbox events and their webhook deliveries.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(shops_app, name="shops")
app.add_typer(events_app, name="events")

T = TypeVar("T")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class CliError(Exception):
    """An expected failure with a message for the operator."""


def _settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic ValidationError or a bad environment value
        raise CliError(f"invalid SHOPBRIDGE_* configuration: {exc}".splitlines()[0]) from exc


@app.command()
def version() -> None:
    """Print the ShopBridge version."""
    out.print(f"shopbridge {__version__}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    demo: Annotated[
        bool, typer.Option("--demo", help="Run the local demo (SQLite, known admin key).")
    ] = False,
    migrate: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate", help="Apply migrations at start (default: on SQLite only)."
        ),
    ] = None,
    ssl_certfile: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            envvar="SHOPBRIDGE_SSL_CERTFILE",
            help="TLS certificate chain (PEM): serve HTTPS. Needs --ssl-keyfile.",
        ),
    ] = None,
    ssl_keyfile: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            envvar="SHOPBRIDGE_SSL_KEYFILE",
            help="TLS private key (PEM) of --ssl-certfile.",
        ),
    ] = None,
    sync: Annotated[
        bool, typer.Option("--sync/--no-sync", help="Run the order sync worker in this process.")
    ] = True,
    deliver: Annotated[
        bool,
        typer.Option("--deliver/--no-deliver", help="Run the webhook dispatcher in this process."),
    ] = True,
) -> None:
    """Run the API (and, with --demo, the local demo) at http://HOST:PORT (https:// with
    --ssl-certfile and --ssl-keyfile)."""
    import uvicorn

    from shopbridge.api.app import create_app
    from shopbridge.api.bootstrap import BootstrapResult
    from shopbridge.logging import configure_logging

    _check_tls(ssl_certfile, ssl_keyfile)
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    if demo and settings.admin_key is None:
        settings = settings.model_copy(update={"admin_key": SecretStr(_demo_admin_key(settings))})
    _preflight(settings)
    scheme = "https" if ssl_certfile else "http"
    base = f"{scheme}://{host}:{port}"

    def announce(result: BootstrapResult) -> None:
        key = result.generated_admin_key
        if demo and settings.admin_key is not None:
            key = settings.admin_key.get_secret_value()
        out.print(f"[bold green]ShopBridge {__version__}[/] API at {base}  docs at {base}/docs")
        if key:
            note = (
                "(demo key, kept in data/demo-admin.key)" if demo else "(shown once: store it now)"
            )
            out.print(f"Admin API key {note}:\n  [bold]{key}[/]")
            out.print(f"Try: curl -H 'Authorization: Bearer {key}' {base}/v1/shops")

    on_started = None
    demo_run = None
    if demo:
        from shopbridge.cli.demo import Demo

        demo_run = Demo(api_base=base, data_dir=settings.data_dir)
        sandbox_urls = demo_run.start_sandboxes()
        sink_url = demo_run.start_erp_sink()

        async def on_started(app: FastAPI) -> None:
            assert demo_run is not None
            shops = await demo_run.connect_shops(app.state.db, app.state.box, sandbox_urls)
            await demo_run.subscribe_erp_sink(app.state.db, app.state.box)
            out.print(
                "Demo: "
                + ", ".join(f"{s.platform} sandbox at {sandbox_urls[s.platform]}" for s in shops)
                + " streaming orders"
            )
            out.print(
                f"Dashboard (orders arriving, buyer data masked): {base}/dashboard#key={demo_run.dashboard_key}"
            )
            out.print(f"Sample ERP receiving signed webhooks: {sink_url}/")

    application = create_app(
        settings,
        migrate_on_start=migrate,
        on_bootstrap=announce,
        run_sync=sync,
        run_delivery=deliver,
        on_started=on_started,
    )
    try:
        uvicorn.run(
            application,
            host=host,
            port=port,
            log_level="warning",
            # uvicorn's own logging config gives its loggers handlers of their own; without
            # it they propagate to the root handler, which redacts like every other log line.
            log_config=None,
            ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
            ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        )
    finally:
        if demo_run is not None:
            demo_run.stop()


def _check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    """Both or neither, and a pair that loads: a typo must stop `serve` with one line
    (exit 2), not a traceback from inside uvicorn, and never a silent fall back to HTTP."""
    import ssl

    if certfile is None and keyfile is None:
        return
    if certfile is None or keyfile is None:
        given, missing = (
            ("--ssl-certfile", "--ssl-keyfile")
            if keyfile is None
            else ("--ssl-keyfile", "--ssl-certfile")
        )
        raise typer.BadParameter(
            f"{given} needs {missing} too (or set SHOPBRIDGE_SSL_CERTFILE and "
            "SHOPBRIDGE_SSL_KEYFILE together)",
            param_hint=missing,
        )
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise typer.BadParameter(
            f"cannot load the certificate and key ({reason}); both must be PEM files and the "
            "key must match the certificate",
            param_hint="--ssl-certfile / --ssl-keyfile",
        ) from exc


def _preflight(settings: Settings) -> None:
    """Catch configuration mistakes before the server starts, as one-line errors."""
    from shopbridge.api.bootstrap import BootstrapError, check_admin_key
    from shopbridge.delivery.schedule import InvalidSchedule, RetrySchedule
    from shopbridge.storage.crypto import EncryptionKeyError, SecretBox
    from shopbridge.storage.db import UnsupportedDatabase, create_engine

    try:
        check_admin_key(settings.admin_key.get_secret_value() if settings.admin_key else None)
        SecretBox.from_settings(settings)
        create_engine(settings.effective_database_url)
        RetrySchedule.parse(settings.webhook_retry_schedule)
    except InvalidSchedule as exc:
        raise CliError(f"SHOPBRIDGE_WEBHOOK_RETRY_SCHEDULE: {exc}") from exc
    except (BootstrapError, EncryptionKeyError, UnsupportedDatabase, OSError) as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:  # e.g. an unparsable database URL or missing driver
        raise CliError(f"invalid configuration: {type(exc).__name__}: {exc}") from exc


def _demo_admin_key(settings: Settings) -> str:
    """The demo keeps its admin key in a 0600 file so every `make demo` can show it again."""
    from shopbridge.storage.tenants import generate_token

    path = settings.data_dir / "demo-admin.key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = generate_token()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


def _bench_status(as_json: bool, phase: str) -> AbstractContextManager[object]:
    """A spinner naming the running benchmark on stderr, for a person watching a terminal;
    nothing under `--json` or when stderr is a pipe or file (stdout is unaffected)."""
    if as_json or not err.is_terminal:
        return nullcontext()
    return err.status(phase)


@app.command()
def bench(
    scenario: Annotated[str, typer.Argument(help="Benchmark to run: ingest, peak, flash-sale.")],
    platform: Annotated[
        str, typer.Option(help="Platform whose sandbox feeds the run.")
    ] = "shopify",
    orders: Annotated[
        int, typer.Option(min=1, max=100_000, help="Orders to ingest (peak: in the burst).")
    ] = 1000,
    shops: Annotated[int, typer.Option(min=1, max=20, help="peak, flash-sale: sandbox shops.")] = 3,
    rate: Annotated[
        float, typer.Option(min=0, help="peak: orders/s across shops (0 = burst at once).")
    ] = 0.0,
    sandboxes: Annotated[
        str, typer.Option(help="peak: run the sandboxes in one `process` or as `threads` here.")
    ] = "process",
    delivery: Annotated[
        str,
        typer.Option(
            help="peak: webhooks delivered `in-process` by `serve`, or by a separate `worker`."
        ),
    ] = "in-process",
    sku_stock: Annotated[
        int, typer.Option(min=1, max=100_000, help="flash-sale: units of the hot SKU (S).")
    ] = 100,
    buyers: Annotated[
        int, typer.Option(min=1, max=100_000, help="flash-sale: buyers, 1 unit each.")
    ] = 1000,
    allocation: Annotated[
        str, typer.Option(help="flash-sale: `split`, or `low-stock` (threshold S // 2).")
    ] = "split",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Measure ShopBridge on this machine (figures in docs come from these commands)."""
    import json

    if scenario == "flash-sale":
        from shopbridge.bench.flash_sale import FlashSaleOptions, run_flash_sale

        if allocation not in ("split", "low-stock"):
            raise typer.BadParameter("split or low-stock", param_hint="--allocation")
        rule: Literal["split", "low-stock"] = "split" if allocation == "split" else "low-stock"
        sale = FlashSaleOptions(sku_stock=sku_stock, shops=shops, buyers=buyers, allocation=rule)
        try:
            with _bench_status(
                as_json, f"flash sale: {buyers} buyers, {sku_stock} units, {shops} shops…"
            ):
                result = _run_db(run_flash_sale(sale))
        except RuntimeError as exc:
            raise CliError(f"flash-sale benchmark failed: {exc}") from exc
        if as_json:
            print(json.dumps(result))
        else:
            out.print_json(data=result)
        return
    if scenario == "peak":
        from shopbridge.bench.peak import PeakOptions, run_peak

        if sandboxes not in ("process", "threads"):
            raise typer.BadParameter("process or threads", param_hint="--sandboxes")
        hosting: Literal["process", "threads"] = "threads" if sandboxes == "threads" else "process"
        if delivery not in ("in-process", "worker"):
            raise typer.BadParameter("in-process or worker", param_hint="--delivery")
        deliverer: Literal["in-process", "worker"] = (
            "worker" if delivery == "worker" else "in-process"
        )
        options = PeakOptions(
            orders=orders, shops=shops, rate=rate, sandboxes=hosting, delivery=deliverer
        )
        try:
            with _bench_status(
                as_json, f"peak: {orders} orders from {shops} shops, push to ERP sink…"
            ):
                result = _run_db(run_peak(options))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--orders") from exc
        except RuntimeError as exc:
            raise CliError(f"peak benchmark failed: {exc}") from exc
        if as_json:
            print(json.dumps(result))
        else:
            out.print_json(data=result)
        return
    if scenario != "ingest":
        raise typer.BadParameter(
            f"unknown scenario {scenario!r}; available: ingest, peak, flash-sale",
            param_hint="SCENARIO",
        )
    from shopbridge.bench.ingest import SANDBOXES, run_ingest

    if platform not in SANDBOXES:
        raise typer.BadParameter(f"available: {', '.join(SANDBOXES)}", param_hint="--platform")
    with _bench_status(as_json, f"ingest: {orders} {platform} orders through the real HTTP path…"):
        result = _run_db(run_ingest(platform, orders))
    if as_json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            out.print(f"{key:>34}: {value}")


@app.command()
def worker(
    sync: Annotated[
        bool,
        typer.Option(
            "--sync/--no-sync",
            help="Sync orders; push stock to listings; confirm pending shipments.",
        ),
    ] = True,
    deliver: Annotated[
        bool,
        typer.Option("--deliver/--no-deliver", help="Sequence events and deliver webhooks."),
    ] = True,
) -> None:
    """Run the background workers without the API: order sync and webhook delivery (scale
    out: many workers share shops and deliveries through leases; on SQLite run one worker,
    or let `serve` run them in-process)."""
    import signal

    from shopbridge.delivery.dispatcher import Dispatcher, delivery_settings
    from shopbridge.logging import configure_logging
    from shopbridge.storage.crypto import SecretBox
    from shopbridge.storage.db import Database
    from shopbridge.storage.vault import attach_configured_vault
    from shopbridge.sync.engine import SyncEngine, sync_settings
    from shopbridge.sync.shipments import ShipmentWorker
    from shopbridge.sync.stock import StockPusher

    if not (sync or deliver):
        raise typer.BadParameter("nothing to do: drop --no-sync or --no-deliver")
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    _preflight(settings)
    delivery = delivery_settings(settings)

    async def run() -> None:
        db = Database(settings.effective_database_url)
        box = SecretBox.from_settings(settings)
        await attach_configured_vault(db, box, settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        heap.settle()
        jobs = []
        if sync:
            jobs.append(SyncEngine(db, box, settings=sync_settings(settings)).run_forever(stop))
            jobs.append(StockPusher(db, box).run_forever(stop))
            jobs.append(ShipmentWorker(db, box).run_forever(stop))
        if deliver:
            jobs.append(Dispatcher(db, box, delivery).run_forever(stop))
        try:
            await asyncio.gather(*jobs)
        finally:
            await db.dispose()

    roles = " + ".join(name for name, on in (("sync", sync), ("delivery", deliver)) if on)
    out.print(f"[bold green]worker[/] started: {roles} (Ctrl-C to stop)")
    _run_db(run())


@app.command()
def sandbox(
    platform: Annotated[str, typer.Argument(help="Platform to emulate, e.g. shopify.")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8081,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    app_key: Annotated[str | None, typer.Option(help="App key (client id).")] = None,
    app_secret: Annotated[str | None, typer.Option(help="App secret: signs pushes.")] = None,
    access_token: Annotated[
        str | None, typer.Option(help="Access token that identifies the shop.")
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Orders created at start.")] = None,
    random_seed: Annotated[int | None, typer.Option(help="Seed of every generated value.")] = None,
    push_url: Annotated[
        str | None, typer.Option(help="Where pushes (webhooks) are POSTed.")
    ] = None,
    orders_per_second: Annotated[
        float | None, typer.Option(min=0, help="Live order stream rate.")
    ] = None,
) -> None:
    """Run a local emulator of PLATFORM's API (official SDKs work against it); its control
    API is under /_sandbox/ (see docs/sandboxes.md)."""
    import importlib

    from pydantic import ValidationError

    from shopbridge.sandbox import SANDBOX_PLATFORMS

    if platform not in SANDBOX_PLATFORMS:
        raise typer.BadParameter(
            f"no sandbox for {platform!r}; available: {', '.join(SANDBOX_PLATFORMS)}",
            param_hint="PLATFORM",
        )
    module = importlib.import_module(f"shopbridge.sandbox.{platform}.app")
    given = {
        "app_key": app_key,
        "app_secret": app_secret,
        "access_token": access_token,
        "seed": seed,
        "random_seed": random_seed,
        "push_url": push_url,
        "orders_per_second": orders_per_second,
    }
    try:
        options = module.Options(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        raise CliError(
            f"--{'-'.join(str(p) for p in first['loc']).replace('_', '-')}: {first['msg']}"
        ) from exc
    out.print(
        f"[bold green]{platform} sandbox[/] at http://{host}:{port}  control API at http://{host}:{port}/_sandbox/"
    )
    module.run(options, host=host, port=port)


@app.command("erp-sink")
def erp_sink(
    secret: Annotated[
        list[str],
        typer.Option(
            "--secret",
            help="The endpoint's whsec_… secret; repeat during a rotation (old and new).",
        ),
    ],
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8090,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    store: Annotated[
        Path, typer.Option(dir_okay=False, help="SQLite file of received events.")
    ] = Path("data/erp-sink.db"),
    allow_reset: Annotated[
        bool, typer.Option("--allow-reset", help="Enable POST /_reset (benchmarks).")
    ] = False,
) -> None:
    """Run the sample ERP receiver: verifies, deduplicates and stores ShopBridge webhooks
    at http://HOST:PORT/webhooks (see docs/erp-integration.md)."""
    import sqlite3

    import uvicorn

    from shopbridge.erpsink import Store, create_app, load_secret

    for value in secret:
        try:
            load_secret(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--secret") from exc
    try:
        sink_store = Store(store)
    except (OSError, sqlite3.Error) as exc:
        raise CliError(f"cannot open {store}: {exc}") from exc
    try:
        application = create_app(secret, sink_store, allow_reset=allow_reset)
        heap.settle()
        base = f"http://{host}:{port}"
        out.print(
            f"[bold green]ShopBridge sample ERP receiver[/] at {base}/webhooks  "
            f"status page at {base}/  store {store}"
        )
        uvicorn.run(application, host=host, port=port, log_level="warning")
    finally:
        sink_store.close()


@app.command()
def connectors(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the README table.")] = False,
) -> None:
    """List the installed platform connectors and what each can do."""
    from shopbridge.connectors.base import Capability
    from shopbridge.connectors.catalog import capability_table, installed_infos

    infos = installed_infos()
    if markdown:
        out.print(capability_table(infos), markup=False, highlight=False)
        return
    table = Table(
        "platform", "API version", *(c.value for c in Capability), title="Installed connectors"
    )
    for info in infos:
        table.add_row(
            f"{info.display_name} ({info.platform})",
            info.api_version,
            *("yes" if c in info.capabilities else "-" for c in Capability),
        )
    out.print(table)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations to SHOPBRIDGE_DATABASE_URL (SQLite and PostgreSQL alike)."""
    from shopbridge.storage.db import Database
    from shopbridge.storage.migrate import current_revision, upgrade

    settings = _settings()

    async def run() -> str | None:
        db = Database(settings.effective_database_url)
        try:
            await upgrade(db, revision)
            return await current_revision(db)
        finally:
            await db.dispose()

    current = _run_db(run())
    out.print(f"database at revision [bold]{current}[/]")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and the newest one this version knows."""
    from shopbridge.storage.db import Database
    from shopbridge.storage.migrate import current_revision, head_revision

    settings = _settings()

    async def run() -> str | None:
        db = Database(settings.effective_database_url)
        try:
            return await current_revision(db)
        finally:
            await db.dispose()

    out.print(f"database: {_run_db(run())}  newest: {head_revision()}")


_DURATION = re.compile(r"^(\d{1,5})([dh])$")


def _parse_duration(text: str | None) -> timedelta | None:
    if text is None:
        return None
    match = _DURATION.match(text)
    if not match:
        raise typer.BadParameter(
            "use a number of days or hours, e.g. 90d or 12h", param_hint="--expires-in"
        )
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(days=amount) if unit == "d" else timedelta(hours=amount)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="What the key is for.")],
    scope: Annotated[list[str], typer.Option("--scope", "-s", help="Scope; repeat for several.")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")] = "ten_default",
    expires_in: Annotated[str | None, typer.Option(help="Lifetime, e.g. 90d or 12h.")] = None,
) -> None:
    """Create an API key directly in the database (e.g. when the admin key was lost)."""
    from shopbridge.api.security import ALL_SCOPES
    from shopbridge.core.time import utcnow
    from shopbridge.storage import tenants as tenant_store
    from shopbridge.storage.db import Database
    from shopbridge.storage.errors import NotFound

    unknown = sorted(set(scope) - set(ALL_SCOPES))
    if unknown:
        raise typer.BadParameter(
            f"unknown scope(s) {', '.join(unknown)}; valid: {', '.join(ALL_SCOPES)}",
            param_hint="--scope",
        )
    lifetime = _parse_duration(expires_in)
    settings = _settings()

    async def run() -> str:
        db = Database(settings.effective_database_url)
        try:
            async with db.transaction() as session:
                if tenant == tenant_store.DEFAULT_TENANT_ID:
                    await tenant_store.ensure_default_tenant(session)
                try:
                    await tenant_store.get_tenant(session, tenant)
                except NotFound as exc:
                    raise CliError(f"tenant {tenant} does not exist") from exc
                issued = await tenant_store.issue_key(
                    session,
                    tenant,
                    name=name,
                    scopes=scope,
                    expires_at=utcnow() + lifetime if lifetime else None,
                )
                return issued.token
        finally:
            await db.dispose()

    token = _run_db(run())
    out.print(f"API key for {tenant} (shown once):\n{token}")


@keys_app.command("rotate-data-key")
def keys_rotate_data_key(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = 500,
    settle_seconds: Annotated[
        float,
        typer.Option(
            min=0,
            help="Pause before the second pass, so running servers switch to the new key "
            "first (they check every 30 s). 0 when nothing else is running.",
        ),
    ] = 31.0,
) -> None:
    """Encrypt all buyer data with a new data key and retire the old ones. Safe to run while
    ShopBridge serves; safe to re-run after an interruption."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from shopbridge.storage.crypto import SecretBox
    from shopbridge.storage.db import Database
    from shopbridge.storage.rekey import rotate_data_key
    from shopbridge.storage.vault import attach_configured_vault

    settings = _settings()

    async def run() -> str:
        db = Database(settings.effective_database_url)
        box = SecretBox.from_settings(settings)
        try:
            vault = await attach_configured_vault(db, box, settings)
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}: {task.completed} rows"),
                console=err,
            ) as bar:
                tasks: dict[str, Any] = {}

                def progress(table: str, rows: int) -> None:
                    if table not in tasks:
                        tasks[table] = bar.add_task(table, total=None)
                    bar.advance(tasks[table], rows)

                report = await rotate_data_key(
                    db, vault, batch=batch, settle_seconds=settle_seconds, progress=progress
                )
            resealed = ", ".join(f"{n} {table}" for table, n in report.resealed.items())
            return (
                f"new data key {report.new_key_id}; re-encrypted {resealed} "
                f"({report.caught_late} caught in the second pass); "
                f"retired {', '.join(report.retired) or 'none'}"
            )
        finally:
            await db.dispose()

    out.print(_run_db(run()))


@keys_app.command("rewrap")
def keys_rewrap() -> None:
    """After changing the master key (SHOPBRIDGE_SECRET_KEY="new,old"), seal data keys, shop
    credentials and webhook secrets with the new one; then drop the old one from the setting."""
    from shopbridge.storage.crypto import SecretBox
    from shopbridge.storage.db import Database
    from shopbridge.storage.rekey import rewrap
    from shopbridge.storage.vault import attach_configured_vault

    settings = _settings()

    async def run() -> str:
        db = Database(settings.effective_database_url)
        box = SecretBox.from_settings(settings)
        try:
            vault = await attach_configured_vault(db, box, settings)
            report = await rewrap(db, vault)
        finally:
            await db.dispose()
        return (
            f"sealed again with the active master key: {report.data_keys} data key(s), "
            f"{report.shop_credentials} shop credential set(s), "
            f"{report.webhook_secrets} webhook endpoint secret set(s)"
        )

    out.print(_run_db(run()))


@shops_app.command("resync")
def shops_resync(
    shop_id: Annotated[str, typer.Argument(help="The shop's id (shop_…).")],
    since: Annotated[
        str, typer.Option(help="Start, ISO 8601 with offset (2026-11-11T00:00:00+08:00).")
    ],
    until: Annotated[str | None, typer.Option(help="End (default: now).")] = None,
) -> None:
    """Re-pull a shop's orders changed in [since, until): repairs without moving the cursor;
    orders already current are left untouched (no events)."""
    from datetime import datetime

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from shopbridge.storage.crypto import SecretBox
    from shopbridge.storage.db import Database
    from shopbridge.storage.tables import ShopRow
    from shopbridge.storage.vault import attach_configured_vault
    from shopbridge.sync.engine import SyncEngine

    def moment(text: str, name: str) -> datetime:
        try:
            value = datetime.fromisoformat(text)
        except ValueError as exc:
            raise typer.BadParameter(
                "use ISO 8601, e.g. 2026-11-11T00:00:00+08:00", param_hint=name
            ) from exc
        if value.tzinfo is None:
            raise typer.BadParameter("add a UTC offset, e.g. +08:00", param_hint=name)
        return value

    start = moment(since, "--since")
    end = moment(until, "--until") if until else None
    if end is not None and end <= start:
        raise typer.BadParameter("must be after --since", param_hint="--until")
    settings = _settings()

    async def run() -> str:
        db = Database(settings.effective_database_url)
        box = SecretBox.from_settings(settings)
        await attach_configured_vault(db, box, settings)
        try:
            async with db.read() as session:
                shop = await session.get(ShopRow, shop_id)
            if shop is None:
                raise CliError(f"shop {shop_id} does not exist")
            with Progress(
                TextColumn("resync {task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} windows"),
                TimeElapsedColumn(),
                console=err,
            ) as bar:
                task = bar.add_task(shop_id, total=None)
                result = await SyncEngine(db, box).resync(
                    shop,
                    start,
                    end,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
            return (
                f"{result.windows} windows, {result.pages} pages: {result.created} created, "
                f"{result.updated} updated, {result.unchanged} unchanged, {result.stale} stale, "
                f"{result.unmapped} unmapped"
            )
        finally:
            await db.dispose()

    out.print(_run_db(run()))


@shops_app.command("list")
def shops_list(tenant: Annotated[str, typer.Option(help="Tenant id.")] = "ten_default") -> None:
    """List the shops connected to a tenant."""
    from shopbridge.storage.crypto import SecretBox
    from shopbridge.storage.db import Database
    from shopbridge.storage.shops import ShopRepository

    settings = _settings()

    async def run() -> list[tuple[str, ...]]:
        db = Database(settings.effective_database_url)
        box = SecretBox.from_settings(settings)
        try:
            async with db.transaction() as session:
                rows = await ShopRepository(session, tenant, box).list(limit=10_000)
                return [
                    (r.id, r.platform, r.platform_shop_id, r.display_name, r.status) for r in rows
                ]
        finally:
            await db.dispose()

    rows = _run_db(run())
    table = Table(
        "id", "platform", "platform shop id", "name", "status", title=f"Shops of {tenant}"
    )
    for row in rows:
        table.add_row(*row)
    out.print(table if rows else f"No shops connected to {tenant}.")


def _iso_moment(text: str, name: str) -> datetime:
    """An ISO 8601 time with a UTC offset, or a usage error naming the option."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(
            "use ISO 8601, e.g. 2026-11-11T00:00:00+08:00", param_hint=name
        ) from exc
    if value.tzinfo is None:
        raise typer.BadParameter("add a UTC offset, e.g. +08:00", param_hint=name)
    return value


@events_app.command("replay")
def events_replay(
    shop: Annotated[
        str | None, typer.Option("--shop", help="Replay this shop's events (with --since).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Events created at or after, ISO 8601 with offset (…T00:00:00+08:00)."),
    ] = None,
    until: Annotated[str | None, typer.Option(help="Events created before (default: now).")] = None,
    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", help="Only this webhook endpoint (default: every enabled one)."),
    ] = None,
    failed: Annotated[
        bool,
        typer.Option("--failed", help="Instead: re-queue the dead letters of --endpoint."),
    ] = False,
    tenant: Annotated[str, typer.Option(help="Tenant id.")] = "ten_default",
) -> None:
    """Re-queue webhook deliveries, as `POST /v1/events/replay` does: a shop's events since a
    time (to every matching enabled endpoint, or one), or an endpoint's dead letters. Events
    keep their ids, so receivers deduplicate."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from sqlalchemy import func, select

    from shopbridge.storage.crypto import SecretBox
    from shopbridge.storage.db import Database
    from shopbridge.storage.errors import Conflict, NotFound
    from shopbridge.storage.events import sequence_committed
    from shopbridge.storage.tables import OutboxEventRow, ShopRow
    from shopbridge.storage.webhooks import WebhookRepository

    if failed:
        if endpoint is None:
            raise typer.BadParameter("--failed needs --endpoint", param_hint="--endpoint")
        if shop is not None or since is not None or until is not None:
            raise typer.BadParameter(
                "--failed replays an endpoint's dead letters: drop --shop/--since/--until",
                param_hint="--failed",
            )
        start = end = None
    else:
        if shop is None or since is None:
            raise typer.BadParameter(
                "give --shop SHOP_ID with --since T, or --failed with --endpoint ID",
                param_hint="--shop/--since",
            )
        start = _iso_moment(since, "--since")
        end = _iso_moment(until, "--until") if until else None
        if end is not None and end <= start:
            raise typer.BadParameter("must be after --since", param_hint="--until")
    settings = _settings()

    async def run() -> str:
        db = Database(settings.effective_database_url)
        box = SecretBox.from_settings(settings)
        try:
            await sequence_committed(db)
            async with db.transaction() as session:
                repo = WebhookRepository(session, tenant, box)
                try:
                    if failed:
                        assert endpoint is not None
                        # One UPDATE statement: nothing to count along the way.
                        with err.status(f"re-queueing the dead letters of {endpoint}…"):
                            scheduled = await repo.replay_failed(endpoint)
                        return f"{scheduled} dead-letter deliveries of {endpoint} re-queued"
                    assert shop is not None
                    assert start is not None
                    row = await session.get(ShopRow, shop)
                    if row is None or row.tenant_id != tenant:
                        raise typer.BadParameter(
                            f"shop {shop} does not exist in tenant {tenant}", param_hint="--shop"
                        )
                    count = select(func.count()).where(
                        OutboxEventRow.tenant_id == tenant,
                        OutboxEventRow.shop_id == shop,
                        OutboxEventRow.created_at >= start,
                        OutboxEventRow.position.is_not(None),
                    )
                    if end is not None:
                        count = count.where(OutboxEventRow.created_at < end)
                    total = int(await session.scalar(count) or 0)
                    with Progress(
                        TextColumn("replay {task.description}"),
                        BarColumn(),
                        MofNCompleteColumn(),
                        TextColumn("events, {task.fields[scheduled]} deliveries re-queued"),
                        console=err,
                        transient=not err.is_terminal,
                    ) as bar:
                        task = bar.add_task(shop, total=total, scheduled=0)
                        scheduled = await repo.replay_since(
                            shop_id=shop,
                            since=start,
                            until=end,
                            endpoint_id=endpoint,
                            progress=lambda seen, done: bar.update(
                                task, completed=seen, scheduled=done
                            ),
                        )
                    target = f"endpoint {endpoint}" if endpoint else "every matching endpoint"
                    return (
                        f"{total} events of {shop} since {start.isoformat()}: "
                        f"{scheduled} deliveries re-queued to {target}"
                    )
                except NotFound as exc:
                    raise typer.BadParameter(str(exc), param_hint="--endpoint") from exc
                except Conflict as exc:
                    raise CliError(str(exc)) from exc
        finally:
            await db.dispose()

    out.print(_run_db(run()))


def _run_db(coro: Coroutine[Any, Any, T]) -> T:
    """Run a database coroutine; driver failures become one-line operator errors."""
    from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

    from shopbridge.connectors.errors import ConnectorError
    from shopbridge.storage.crypto import EncryptionKeyError
    from shopbridge.storage.db import UnsupportedDatabase

    try:
        return asyncio.run(coro)
    except ConnectorError as exc:
        raise CliError(f"platform error: {exc}") from exc
    except (OperationalError, ProgrammingError) as exc:
        text = str(exc.orig) if exc.orig is not None else str(exc)
        if "no such table" in text or "does not exist" in text:
            raise CliError(
                "the database has no ShopBridge schema yet: run `shopbridge db upgrade`"
            ) from exc
        raise CliError(f"database error: {text.splitlines()[0]}") from exc
    except (OSError, SQLAlchemyError, UnsupportedDatabase, EncryptionKeyError) as exc:
        raise CliError(
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'failed'}"
        ) from exc


def main() -> None:
    """Entry point: Typer without its tracebacks; usage and operator errors on one line."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except typer.TyperException as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            out.print(ctx.get_help(), markup=False, highlight=False)
            sys.exit(0)
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        err.print(f"error: {' '.join(str(message).split())}", markup=False, highlight=False)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except CliError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    if isinstance(code, int) and code:
        sys.exit(code)
