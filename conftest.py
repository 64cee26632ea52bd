"""Root conftest: plugins every test run loads, wherever pytest is started from."""

# Under CI=true a skip not on tests/allowed_skips.txt fails the run (tests/skip_guard.py);
# pytester runs that guard in tests/test_skip_guard.py.
pytest_plugins = ["tests.skip_guard", "pytester"]
