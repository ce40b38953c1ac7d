"""The `looped` command line (looped/cli/shell.py is the shell; looped/cli/args.py what the
subcommands share; looped/cli/programs.py the commands on assembly programs)."""


def main(argv=None) -> int:
    if argv is None:  # the `looped` command itself (not a caller passing arguments): Ctrl-C stops it quietly
        from looped.cli.interrupt import install

        install()
    from looped.cli.shell import main as shell

    return shell(argv)
