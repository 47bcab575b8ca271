"""usage: its models arrive with their own issue."""
