"""Citizens: the prompts of Rafael, Emma and Daniel, and the runner of their CLI sessions."""
