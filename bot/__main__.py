"""`python -m bot` starts the service, like `scopelock run`."""

from bot.cli import main

if __name__ == "__main__":
    main(["run"])
