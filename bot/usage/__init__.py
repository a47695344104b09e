"""What each dream costs: the ledger of engine seconds, quotas, and the order by recent use."""
