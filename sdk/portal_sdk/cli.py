"""``portal``: the command line for the compute portal.

    portal login
    portal compute list|show|create|attach|check|delete ...
    portal run submit DIR --script train.py --target NAME [--wait]
    portal run logs RUN [-f] | show RUN | list | cancel RUN | download RUN [--dir D]

Tables for people; ``--json`` for scripts. Exit codes a CI step can test:

    0  done (a waited-for run completed)
    1  a waited-for run failed or was canceled, or a target failed
    2  bad usage (unknown option, missing argument)
    3  the portal refused the request or could not be reached (its message is printed)
    4  no configuration or token: run `portal login`
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .core.compute import (
    ClusterCompute,
    ContainerInstanceCompute,
    DockerEngineCompute,
    DsvmCompute,
    RemoteCompute,
    SlurmCompute,
)
from .core.compute_target import ComputeTarget, TargetConfiguration
from .core.conda_dependencies import CondaDependencies
from .core.experiment import Experiment
from .core.run import Run
from .core.runconfig import RunConfiguration
from .core.script_run_config import ScriptRunConfig
from .core.workspace import ENV_TOKEN, Workspace, write_config
from .exceptions import (
    ActivityFailedException,
    AuthenticationException,
    PortalError,
    TargetFailedException,
    UserErrorException,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_API, EXIT_CONFIG = 0, 1, 2, 3, 4
DEFAULT_CONFIG = Path("~/.portal/config.json")


class CommandFailed(Exception):
    """A command that ran but whose result is a failure (exit 1)."""


# ---- output --------------------------------------------------------------------------------


def emit(args: argparse.Namespace, data: Any, columns: Sequence[tuple[str, str]] | None = None) -> None:
    """``data`` as JSON with --json, else as a table (lists) or key: value lines (dicts)."""
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return
    if isinstance(data, list):
        print_table(data, columns or [(k, k.upper()) for k in (data[0] if data else {})])
    elif isinstance(data, dict):
        width = max((len(k) for k in data), default=0)
        for key, value in data.items():
            if isinstance(value, dict | list):
                value = json.dumps(value, default=str)
            print(f"{key:<{width}}  {'' if value is None else value}")
    else:
        print(data)


def print_table(rows: list[dict], columns: Sequence[tuple[str, str]]) -> None:
    cells = [[("" if row.get(key) is None else str(row.get(key))) for key, _ in columns] for row in rows]
    widths = [max([len(title), *(len(c[i]) for c in cells)]) for i, (_, title) in enumerate(columns)]
    print("  ".join(title.ljust(w) for (_, title), w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(value.ljust(w) for value, w in zip(row, widths, strict=True)).rstrip())


TARGET_COLUMNS = (
    ("name", "NAME"),
    ("kind", "KIND"),
    ("origin", "ORIGIN"),
    ("state", "STATE"),
    ("summary", "SUMMARY"),
)
RUN_COLUMNS = (
    ("id", "ID"),
    ("experiment", "EXPERIMENT"),
    ("target", "TARGET"),
    ("status", "STATUS"),
    ("script", "SCRIPT"),
    ("created_at", "CREATED"),
)


# ---- workspace -----------------------------------------------------------------------------


def workspace(args: argparse.Namespace) -> Workspace:
    return Workspace.from_config(args.config) if args.config else Workspace.from_config()


def cmd_login(args: argparse.Namespace) -> int:
    url = args.url or input("Portal URL (e.g. https://portal.example.org): ").strip()
    name = args.workspace or input("Workspace (its short name, as in the URL): ").strip()
    if args.token_stdin:
        token = sys.stdin.readline().strip()
    else:
        token = os.environ.get(ENV_TOKEN) or getpass.getpass("Personal access token (not shown): ").strip()
    ws = Workspace.get(name, url=url, token=token)  # checks that the token works there
    file = write_config(Path(args.file).expanduser(), url=ws.url, workspace=ws.name, token=token)
    details = ws._details or {}
    if args.json:
        emit(args, {"config": str(file), "url": ws.url, "workspace": ws.name, "role": details.get("role")})
    else:
        print(
            f"Signed in to {ws.name} at {ws.url} as {details.get('role', 'member')}; wrote {file} (mode 600)."
        )
    return EXIT_OK


# ---- compute -------------------------------------------------------------------------------


def _fields(pairs: list[str] | None) -> dict[str, Any]:
    fields = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserErrorException(f"--field takes key=value, not {pair!r}.")
        fields[key] = value
    return fields


def _wait_target(args: argparse.Namespace, target: ComputeTarget, *, delete: bool = False) -> None:
    if args.wait:
        target.wait_for_completion(
            show_output=not args.json,
            timeout_in_minutes=args.timeout,
            is_delete_operation=delete,
            out=sys.stderr if args.json else sys.stdout,
        )


def cmd_compute_list(args: argparse.Namespace) -> int:
    ws = workspace(args)
    emit(args, [t.serialize() for t in ws.compute_targets.values()], TARGET_COLUMNS)
    return EXIT_OK


def cmd_compute_show(args: argparse.Namespace) -> int:
    target = ComputeTarget(workspace(args), args.name)
    emit(args, target.serialize())
    return EXIT_OK


def cmd_compute_create(args: argparse.Namespace) -> int:
    ws = workspace(args)
    size = {"cpu_cores": args.cpus, "memory_gb": args.memory_gb, "gpus": args.gpus}
    size = {k: v for k, v in size.items() if v is not None}
    if args.kind == "vm":
        config: TargetConfiguration = DsvmCompute.provisioning_configuration(
            vm_size=args.vm_size or "", engine=args.engine, image=args.image, **size
        )
    elif args.kind == "container":
        config = ContainerInstanceCompute.provisioning_configuration(
            engine=args.engine, image=args.image, vm_size=args.vm_size or "", **size
        )
    else:
        config = ClusterCompute.provisioning_configuration(
            vm_size=args.vm_size or "",
            min_nodes=args.min_nodes,
            max_nodes=args.max_nodes,
            engine=args.engine,
            image=args.image,
        )
    config.fields.update(_fields(args.field))
    target = ComputeTarget.create(ws, args.name, config)
    _wait_target(args, target)
    emit(args, target.serialize())
    return EXIT_OK


def _password(args: argparse.Namespace) -> str | None:
    """From stdin with --password-stdin, else asked for on a terminal; None with a key file."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if args.private_key_file or not sys.stdin.isatty():
        return None
    return getpass.getpass(f"Password of {args.username} on {args.address} (not shown): ")


def cmd_compute_attach(args: argparse.Namespace) -> int:
    ws = workspace(args)
    if args.kind == "docker":
        config: TargetConfiguration = DockerEngineCompute.attach_configuration(
            args.endpoint or "", ssh_target=args.through or ""
        )
    else:
        if not args.address or not args.username:
            raise UserErrorException("--address and --username are needed to attach a machine.")
        password = _password(args)
        common = {
            "address": args.address,
            "ssh_port": args.port,
            "username": args.username,
            "password": password,
            "private_key_file": args.private_key_file,
            "host_key_fingerprint": args.host_key_fingerprint,
            "known_hosts_line": args.known_hosts_line,
        }
        if args.kind == "vm":
            config = RemoteCompute.attach_configuration(**common)
        else:
            config = SlurmCompute.attach_configuration(**common, partition=args.partition)
    config.fields.update(_fields(args.field))
    target = ComputeTarget.attach(ws, args.name, config)
    _wait_target(args, target)
    emit(args, target.serialize())
    return EXIT_OK


def cmd_compute_check(args: argparse.Namespace) -> int:
    target = ComputeTarget(workspace(args), args.name).check()
    _wait_target(args, target)
    emit(args, target.serialize())
    return EXIT_OK


def cmd_compute_delete(args: argparse.Namespace) -> int:
    target = ComputeTarget(workspace(args), args.name)
    target.delete()
    _wait_target(args, target, delete=True)
    emit(args, {"name": target.name, "state": "Deleted" if args.wait else target.provisioning_state})
    return EXIT_OK


# ---- runs ----------------------------------------------------------------------------------


def cmd_run_submit(args: argparse.Namespace) -> int:
    ws = workspace(args)
    run_config = RunConfiguration()
    run_config.target = args.target
    run_config.node_count = args.node_count
    python = run_config.environment.python
    pip = list(args.pip or [])
    if args.requirements:
        pip += [
            line.strip()
            for line in Path(args.requirements).read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    if pip or args.conda:
        python.user_managed_dependencies = False
        python.conda_dependencies = CondaDependencies.create(
            pip_packages=pip, conda_packages=args.conda or []
        )
    else:
        python.user_managed_dependencies = True
        python.interpreter_path = args.interpreter
    if args.docker_image:
        run_config.environment.docker.enabled = True
        run_config.environment.docker.base_image = args.docker_image
    config = ScriptRunConfig(args.dir, script=args.script, arguments=args.arg or [], run_config=run_config)
    run = Experiment(ws, args.experiment).submit(config)
    out = sys.stderr if args.json else sys.stdout
    if not args.json:
        print(f"Run {run.id} queued on {args.target} ({run.uploaded_bytes} snapshot bytes uploaded).")
        print(f"Page: {run.get_portal_url()}")
    if args.wait:
        try:
            run.wait_for_completion(show_output=not args.json, out=out)
        finally:
            if args.json:
                emit(args, {**run.refresh().details, "uploaded_bytes": run.uploaded_bytes})
    elif args.json:
        emit(args, {**run.details, "uploaded_bytes": run.uploaded_bytes})
    return EXIT_OK


def cmd_run_logs(args: argparse.Namespace) -> int:
    run = Run.get(workspace(args), args.run)
    chunks = []
    for chunk in run.iter_log(follow=args.follow):
        if args.json:
            chunks.append(chunk)
        else:
            sys.stdout.write(chunk["text"])
            sys.stdout.flush()
    if args.json:
        emit(args, chunks)
    if args.follow:
        run.refresh()
        if run.status != "Completed":
            return EXIT_FAILED
    return EXIT_OK


def cmd_run_show(args: argparse.Namespace) -> int:
    run = Run.get(workspace(args), args.run)
    emit(args, {**run.details, "metrics": run.get_metrics(), "files": run.get_file_names()})
    return EXIT_OK


def cmd_run_list(args: argparse.Namespace) -> int:
    ws = workspace(args)
    params = {k: v for k, v in (("experiment", args.experiment), ("status", args.status)) if v}
    rows = []
    for payload in ws._client.paged(ws.api("runs/"), params):
        rows.append(payload)
        if len(rows) >= args.limit:
            break
    emit(args, rows, RUN_COLUMNS)
    return EXIT_OK


def cmd_run_cancel(args: argparse.Namespace) -> int:
    run = Run.get(workspace(args), args.run)
    run.cancel()
    emit(args, run.details if args.json else f"Run {run.id}: {run.status}")
    return EXIT_OK


def cmd_run_download(args: argparse.Namespace) -> int:
    run = Run.get(workspace(args), args.run)
    files = run.download_files(prefix=args.prefix, output_directory=args.dir)
    emit(
        args,
        [{"path": str(f), "size": f.stat().st_size} for f in files],
        (("path", "PATH"), ("size", "BYTES")),
    )
    return EXIT_OK


# ---- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )
    common.add_argument(
        "--config", default=argparse.SUPPRESS, help="config.json to use (default: found like the SDK does)"
    )

    parser = argparse.ArgumentParser(
        prog="portal",
        description="The compute portal from the command line.",
        epilog="Exit codes: 0 ok, 1 run/target failed, 2 bad usage, 3 portal error, 4 not logged in.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"portal-sdk {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{login,compute,run}")

    login = sub.add_parser("login", parents=[common], help="save url, workspace and token to a config.json")
    login.add_argument("--url")
    login.add_argument("--workspace")
    login.add_argument("--token-stdin", action="store_true", help="read the token from stdin")
    login.add_argument(
        "--file", default=str(DEFAULT_CONFIG), help=f"where to write it (default {DEFAULT_CONFIG})"
    )
    login.set_defaults(func=cmd_login)

    compute = sub.add_parser("compute", help="compute targets").add_subparsers(dest="action", required=True)
    waiting = argparse.ArgumentParser(add_help=False)
    waiting.add_argument(
        "--wait", action="store_true", help="wait until the portal is done, printing its steps"
    )
    waiting.add_argument("--timeout", type=float, default=20, help="minutes to wait (default 20)")
    waiting.add_argument(
        "--field", action="append", metavar="KEY=VALUE", help="another form field of the kind"
    )

    compute.add_parser("list", parents=[common]).set_defaults(func=cmd_compute_list)
    show = compute.add_parser("show", parents=[common])
    show.add_argument("name")
    show.set_defaults(func=cmd_compute_show)

    create = compute.add_parser(
        "create", parents=[common, waiting], help="create a VM, container instance or cluster"
    )
    create.add_argument("name")
    create.add_argument("--kind", choices=("vm", "container", "cluster"), required=True)
    create.add_argument("--vm-size", help="a size from the portal's catalogue (or a cloud name)")
    create.add_argument("--engine", help="the Docker engine target (default: the only one)")
    create.add_argument("--image", help="an image present on the engine")
    create.add_argument("--cpus", type=float)
    create.add_argument("--memory-gb", type=float)
    create.add_argument("--gpus", type=int)
    create.add_argument("--min-nodes", type=int, default=0)
    create.add_argument("--max-nodes", type=int, default=4)
    create.set_defaults(func=cmd_compute_create)

    attach = compute.add_parser(
        "attach", parents=[common, waiting], help="attach a VM, Docker engine or Slurm cluster"
    )
    attach.add_argument("name")
    attach.add_argument("--kind", choices=("vm", "docker", "slurm"), default="vm")
    attach.add_argument("--address")
    attach.add_argument("--port", type=int, default=22)
    attach.add_argument("--username")
    attach.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    attach.add_argument("--private-key-file")
    attach.add_argument("--host-key-fingerprint", help="SHA256:... to confirm on first contact")
    attach.add_argument("--known-hosts-line", help="a known_hosts line to pin up front")
    attach.add_argument("--partition", help="Slurm partition")
    attach.add_argument("--endpoint", help="Docker engine: unix:///... or tcp://host:2376")
    attach.add_argument("--through", help="Docker engine: reach it through this attached VM")
    attach.set_defaults(func=cmd_compute_attach)

    for action, func in (("check", cmd_compute_check), ("delete", cmd_compute_delete)):
        cmd = compute.add_parser(action, parents=[common, waiting])
        cmd.add_argument("name")
        cmd.set_defaults(func=func)

    run = sub.add_parser("run", help="runs").add_subparsers(dest="action", required=True)
    submit = run.add_parser("submit", parents=[common], help="snapshot DIR and run a script in it")
    submit.add_argument("dir")
    submit.add_argument("--script", required=True)
    submit.add_argument("--target", required=True)
    submit.add_argument("--experiment", default="default")
    submit.add_argument(
        "--arg",
        action="append",
        metavar="ARG",
        help="one argument of the script (repeat; --arg=--lr for dashes)",
    )
    submit.add_argument("--pip", action="append", metavar="PKG", help="a pip requirement (repeat)")
    submit.add_argument("--requirements", metavar="FILE", help="a requirements.txt")
    submit.add_argument("--conda", action="append", metavar="PKG", help="a conda package (repeat)")
    submit.add_argument("--interpreter", default="python3", help="without packages: the Python to run with")
    submit.add_argument("--docker-image", help="run in an image built from this base")
    submit.add_argument("--node-count", type=int, default=1)
    submit.add_argument("--wait", action="store_true", help="stream the log; exit 1 unless the run completes")
    submit.set_defaults(func=cmd_run_submit)

    logs = run.add_parser("logs", parents=[common], help="print a run's log")
    logs.add_argument("run")
    logs.add_argument(
        "-f", "--follow", action="store_true", help="follow until the run ends (exit 1 unless it completed)"
    )
    logs.set_defaults(func=cmd_run_logs)

    for action, func in (("show", cmd_run_show), ("cancel", cmd_run_cancel)):
        cmd = run.add_parser(action, parents=[common])
        cmd.add_argument("run")
        cmd.set_defaults(func=func)

    listing = run.add_parser("list", parents=[common])
    listing.add_argument("--experiment")
    listing.add_argument("--status")
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(func=cmd_run_list)

    download = run.add_parser("download", parents=[common], help="download a run's outputs")
    download.add_argument("run")
    download.add_argument("--dir", default=".", help="folder to write outputs/ into (default: here)")
    download.add_argument("--prefix", help="only outputs under this path")
    download.set_defaults(func=cmd_run_download)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on bad usage
    args.json = getattr(args, "json", False)
    args.config = getattr(args, "config", None)
    try:
        return args.func(args)
    except ActivityFailedException as exc:
        print(f"portal: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    except TargetFailedException as exc:
        print(f"portal: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    except AuthenticationException as exc:
        print(f"portal: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG if exc.status == 401 else EXIT_API
    except UserErrorException as exc:
        print(f"portal: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG if exc.status is None and "portal login" in exc.message else EXIT_API
    except PortalError as exc:
        print(f"portal: {exc.message}", file=sys.stderr)
        return EXIT_API
    except CommandFailed as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return EXIT_API
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
