"""The command-line layer: the only code that parses arguments, prints for humans, or exits."""
