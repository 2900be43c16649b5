"""Sales: orders, their lines and their status from placed to delivered, taking stock as they ship."""
