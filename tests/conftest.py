pytest_plugins = ["libnetwork.testing"]
