"""The `waymark` command line: serve, chat, check and draw the flows, train the model, purge."""

from __future__ import annotations

import secrets
import sys

import click
from flask import Flask

from flows.check import check_all
from flows.directory import stale_or_unverified
from flows.library import LibraryError
from flows.render import Reply


def _app() -> Flask:
    from . import create_app

    try:
        return create_app()
    except LibraryError as err:
        raise click.ClickException("the flow library has problems:\n" + str(err)) from None


@click.group()
def cli():
    """Waymark: a guided support assistant for people affected by violence against women and girls."""


@cli.command()
@click.option("--port", default=8000, show_default=True, help="Port to listen on (127.0.0.1 only).")
def serve(port: int):
    """Run the app on 127.0.0.1 with the embedded SQLite store."""
    app = _app()
    click.echo(f"Waymark is running: open http://127.0.0.1:{port}/ (Ctrl+C to stop)")
    app.run(host="127.0.0.1", port=port, debug=False, load_dotenv=False)


def _show(reply: Reply) -> None:
    click.echo(reply.as_text())
    click.echo("")


@cli.command()
def chat():
    """Talk to Waymark in the terminal, one line in, replies out (works with piped input)."""
    app = _app()
    with app.app_context():
        waymark = app.extensions["waymark"]
        key = waymark.key("cli", secrets.token_hex(16))  # a fresh, unlinkable conversation each run
        interactive = sys.stdin.isatty()
        if interactive:
            click.echo("Type a message to start (EXIT leaves and deletes the chat).")
        try:
            while True:
                if interactive:
                    click.echo("> ", nl=False)
                line = sys.stdin.readline()
                if not line:
                    break
                if not interactive:
                    click.echo(f"> {line.rstrip()}")
                reply = waymark.converse(key, "cli", line.rstrip("\n"))
                _show(reply)
                if reply.ended:
                    break
        finally:
            waymark.forget(key)


@cli.group()
def flows():
    """Check, draw and export the flow library."""


@flows.command("check")
def flows_check():
    """Validate the flow library and its messages; exit non-zero with a list of problems."""
    app = _app()
    problems = check_all(app.extensions["waymark"].runtime)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in the flow library")
    runtime = app.extensions["waymark"].runtime
    click.echo(f"ok: {len(runtime.library.states)} states, {len(runtime.catalogs.languages)} language(s), "
               f"{len(runtime.services)} directory entries")


@flows.command("template")
@click.argument("pot", type=click.Path(dir_okay=False, exists=True))
def flows_template(pot: str):
    """Complete a template made by `pybabel extract` with every English message (see `make catalogs`)."""
    from pathlib import Path

    from flows.extract import complete_template

    missing = complete_template(Path(pot), _app().extensions["waymark"].runtime.catalogs.messages["en"])
    for msg_id in missing:
        click.echo(f"{msg_id}: used in the code or flows but not in locales/en", err=True)
    if missing:
        raise click.ClickException(f"{len(missing)} message id(s) have no English text")


@flows.command("export")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Folder to write into.")
@click.option("--lang", default="en", show_default=True, help="Language to export.")
def flows_export(out: str, lang: str):
    """Write review.md and review.html: every flow and message in reading order, numbers filled in."""
    from pathlib import Path

    from flows.export import export

    for path in export(_app().extensions["waymark"].runtime, Path(out), lang):
        click.echo(f"wrote {path}")


@flows.command("graph")
def flows_graph():
    """Print the flow map as Mermaid text."""
    library = _app().extensions["waymark"].runtime.library
    click.echo("flowchart TD")

    def node(name: str) -> str:
        return name.replace(".", "__")

    for name, state in library.states.items():
        click.echo(f'    {node(name)}["{name}"]')
        for option in state.options:
            click.echo(f"    {node(name)} -->|{option.id}| {node(option.go)}")
        if state.any:
            click.echo(f"    {node(name)} -.->|any| {node(state.any)}")
    for command in library.commands.values():
        if command.go:
            click.echo(f"    %% global command {command.name} -> {command.go} from every state")


@cli.command()
def purge():
    """Delete every conversation that has been idle for longer than the limit."""
    store = _app().extensions["waymark"].store
    with store.transaction():
        count = store.purge()
    click.echo(f"purged {count} idle conversation(s)")


@cli.group()
def model():
    """Look after the learned model that reads free text beside the lexicons (safety/learned.py)."""


@model.command("train")
@click.option("--lang", default=None, help="One language to train (default: every language with enough messages).")
@click.option("--force", is_flag=True, help="Train even a model whose training messages have not changed.")
def model_train(lang: str | None, force: bool):
    """Train on safety/training/ and save safety/model/<lang>.npz (needs scikit-learn: the test extra)."""
    from safety import learned

    messages = learned.labelled()
    for code in [lang] if lang else learned.languages(messages):
        saved, digest = learned.model(code), learned.digest(code, messages)
        if saved is not None and saved.digest == digest and not force:
            click.echo(f"{code}: up to date (digest {digest})")  # the same file again would only churn
            continue
        try:
            path = learned.train(code, messages)
        except (ValueError, ImportError) as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"wrote {path} ({len(learned.examples(code, messages))} labelled messages, digest {digest})")


@cli.group()
def directory():
    """Look after the service directory."""


@directory.command("check")
def directory_check():
    """List unverified entries and entries last checked more than six months ago."""
    services = _app().extensions["waymark"].runtime.services
    found = stale_or_unverified(services)
    for line in found:
        click.echo(line)
    click.echo(f"{len(found)} entr{'y' if len(found) == 1 else 'ies'} to look at, of {len(services)}")


@cli.group()
def staff():
    """Look after staff console accounts (there are no default accounts)."""


def _print_totp(name: str, secret: str | None) -> None:
    if secret:
        import pyotp

        click.echo(f"second factor: add this to an authenticator app: {secret}")
        click.echo(pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name="Waymark"))


@staff.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["staff", "admin"]), default="staff", show_default=True)
@click.option("--totp/--no-totp", default=None, help="Give a staff account a TOTP second factor (admins always have one).")
def staff_add(name: str, role: str, totp: bool | None):
    """Create or reset an account; the password comes from a prompt, or standard input when not a terminal."""
    from .staff import add_account

    if sys.stdin.isatty():
        password = click.prompt("Password (at least 12 characters)", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    app = _app()
    with app.app_context():
        try:
            secret = add_account(app.extensions["waymark"].store, name, role, password,
                                 bool(totp if totp is not None else app.config["STAFF_TOTP"]))
        except ValueError as err:
            raise click.ClickException(str(err)) from None
    click.echo(f"account {name} ({role}) is ready")
    _print_totp(name, secret)


@staff.command("demo")
def staff_demo():
    """Create or refresh the demo account with a new random password, printed once (for `make run`)."""
    from .staff import add_account

    app = _app()
    password = secrets.token_urlsafe(12)
    with app.app_context():
        secret = add_account(app.extensions["waymark"].store, "demo", "staff", password, False)
    click.echo("Staff console demo login (shown once): open /staff/ on the running server")
    _print_totp("demo", secret)
    click.echo(f"name: demo  password: {password}")
