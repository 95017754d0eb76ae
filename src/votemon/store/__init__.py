"""Where votes end up: live counters in Redis (tally) and one log document per vote in MongoDB (vote_log)."""
