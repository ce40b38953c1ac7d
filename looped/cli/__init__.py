"""The `looped` command line (looped/cli/main.py is the shell; looped/cli/args.py what the
subcommands share; looped/cli/programs.py the commands on assembly programs)."""


def main(argv=None) -> int:
    from looped.cli.main import main as shell

    return shell(argv)
