"""The catalog: products, customers and employees, and the stock ledger every change of a product's stock
goes through."""
