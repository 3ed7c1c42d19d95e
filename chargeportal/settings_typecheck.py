"""The settings mypy's django-stubs plugin loads: the project settings in DEBUG mode.

The plugin imports the settings to learn the installed apps and models; DEBUG spares the type check
a SECRET_KEY and the rest of a deployment's environment (the plugin restores the environment after).
"""

import os

os.environ["DEBUG"] = "1"

from chargeportal.settings import *  # noqa: E402, F403
