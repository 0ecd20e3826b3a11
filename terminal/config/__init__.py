"""Configuration files: TOML loaded into typed, frozen objects."""

from terminal.config.loader import default_config_path, load_config
from terminal.config.schema import Config

__all__ = ["Config", "default_config_path", "load_config"]
