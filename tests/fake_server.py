"""The old name of :mod:`tests.fake`: ``python -m tests.fake_server`` still runs the fake server."""

from tests.fake.server import main

if __name__ == "__main__":
    main()
