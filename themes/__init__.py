"""The console's theme files (*.toml), installed as the package `axtui.themes`."""
