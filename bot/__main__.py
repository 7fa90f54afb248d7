"""`python -m bot` starts the service, like `scopelock` (and takes its subcommands too)."""

from bot.cli import main

if __name__ == "__main__":
    main()
