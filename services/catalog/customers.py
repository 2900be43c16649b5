"""Customers: plain CRUD; orders keep them from being deleted."""
from models import Customer, Order
from schemas.customer import CustomerListQuery, CustomerSchema
from services.common.crud import CrudService, Reference


class CustomerService(CrudService):
    name = "customers"
    label = "Customer"
    model = Customer
    schema = CustomerSchema
    list_query = CustomerListQuery
    sort_fields = ("id", "name", "email", "phone", "created_at", "updated_at")
    archivable = True
    unique_fields = ("email",)
    search_fields = ("name", "email")
    references = (Reference(Order, "customer_id", "orders"),)
