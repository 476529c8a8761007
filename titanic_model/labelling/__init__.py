"""Human review of served predictions: what goes to reviewers and what comes back (pure)."""
