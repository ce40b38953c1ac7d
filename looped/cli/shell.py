"""The `looped` command's shell: the top-level parser, the disk cache, and the error policy.

It holds no machine's code: each group of subcommands lives in its own module with an
`add_parsers(sub)` function (the program commands in looped/cli/programs.py, each machine's own in
its folder, named by the registry in looped/machines/__init__.py).

Exit status: 0 every instance halted; 3 one or more hit the step limit; 4 one or more faulted; 2 an
error in the program or the arguments (`FILE:LINE:COL: error: ...` on stderr, no traceback); 1
anything else.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Sequence

from looped.cli.args import EXIT_FAILURE, EXIT_USAGE, Parser
from looped.errors import LoopedError

# The command groups, in the order `looped --help` lists them.
COMMAND_MODULES = ("looped.cli.programs", "looped.view.cli", "looped.machines.tape.c.cli")


def command_modules() -> list[str]:
    from looped import machines

    return list(COMMAND_MODULES) + machines.command_modules()


def build_parser() -> Parser:
    parser = Parser(
        prog="looped",
        description="A looped transformer with hand-set weights that is a computer: it executes "
                    "SUBLEQ and FLEQ assembly programs and classic SUBLEQ tapes, one instruction "
                    "per pass through its layers.",
        epilog="Exit status: 0 all halted, 3 step limit reached, 4 a fault, 2 error in the program or "
               "arguments, 1 anything else. See `looped COMMAND --help`.",
    )
    parser.add_argument("--version", action="version", version=f"looped {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in command_modules():
        importlib.import_module(name).add_parsers(sub)
    return parser


def _version() -> str:
    from looped import __version__

    return __version__


def enable_compilation_cache() -> None:
    """Keep compiled machines on disk between runs (a cold `looped run` is mostly building and
    compiling): the compiled loops themselves under `loops/` (looped/executables.py: a warm run
    loads them and builds nothing), XLA's compilation cache under `xla/`. LOOPED_CACHE_DIR moves
    the cache (default ~/.cache/looped); LOOPED_CACHE_DIR="" turns it off. The folder holds at
    most LOOPED_CACHE_LIMIT bytes (default 2 GiB; looped/cache_bound.py)."""
    root = os.environ.get("LOOPED_CACHE_DIR",
                          os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "looped"))
    if not root:
        return
    try:
        from looped import executables

        os.makedirs(os.path.join(root, "xla"), exist_ok=True)
        _set_jax_option("jax_compilation_cache_dir", os.path.join(root, "xla"))
        _set_jax_option("jax_persistent_cache_min_compile_time_secs", 0.0)
        executables.enable(os.path.join(root, "loops"))
        from looped import cache_bound

        cache_bound.bound(root)  # at most LOOPED_CACHE_LIMIT (default 2 GiB) on disk, oldest out
    except (OSError, AttributeError):
        pass  # no cache: only slower


def _set_jax_option(name: str, value) -> None:
    """Set one of JAX's options without importing JAX (about 2 s): JAX reads the environment
    variable of that name when it is first imported; once imported, the option itself is set.
    So a bad program or argument is answered before JAX is loaded at all."""
    if "jax" in sys.modules:
        sys.modules["jax"].config.update(name, value)
    else:
        os.environ[name.upper()] = str(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return EXIT_USAGE
        if getattr(args, "max_memory", None) is not None:
            from looped import memory_guard

            memory_guard.set_budget(args.max_memory)
        if getattr(args, "compiles", False):
            enable_compilation_cache()
        return args.func(args)
    except MemoryError:
        print("error: out of memory (the machine or its batch is too large for this computer; "
              "try fewer instances or a smaller program, or set --max-memory)", file=sys.stderr)
        return EXIT_FAILURE
    except LoopedError as e:
        print(str(e), file=sys.stderr)
        return EXIT_FAILURE if _is_internal(e) else EXIT_USAGE
    except ValueError as e:
        from kernels.settings import SettingError  # (JAX-free: no JAX start on an error path)

        if not isinstance(e, SettingError):
            raise
        print(f"error: {e}", file=sys.stderr)  # an environment variable of the kernels'
        return EXIT_USAGE
    except RuntimeError as e:
        from kernels.native import NativeUnavailable

        if "RESOURCE_EXHAUSTED" in str(e) or "out of memory" in str(e).lower():  # XLA's own allocation failed
            print("error: out of memory (the machine or its batch is too large for this computer; try "
                  "fewer instances or a smaller program, or set --max-memory)", file=sys.stderr)
            return EXIT_FAILURE
        if not isinstance(e, NativeUnavailable):
            raise
        print(f"error: {e}", file=sys.stderr)  # --backend native without a C++ compiler
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:
        return EXIT_FAILURE
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILURE


def _is_internal(error: LoopedError) -> bool:
    # (a health error comes only from the runner: where it was never imported, the error is the
    # input's, and answering it need not import the runner and JAX)
    runner = sys.modules.get("looped.runner")
    return runner is not None and isinstance(error, runner.NumericalHealthError)
