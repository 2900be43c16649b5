"""Analytics: the plant manager's reports, and the summary tables that the sales and floor writes keep
current in their own transaction (with their rebuild)."""
