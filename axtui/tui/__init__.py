"""The console: a Textual app that renders Snapshots. The only package that imports textual."""
