"""The embedded default: the same function app on one machine with emulated clouds and a virtual clock."""
