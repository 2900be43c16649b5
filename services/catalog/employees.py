"""Employees: plain CRUD; production records keep them from being deleted."""
from models import Employee, ProductionRecord
from schemas.employee import EmployeeListQuery, EmployeeSchema
from services.common.crud import CrudService, Reference


class EmployeeService(CrudService):
    name = "employees"
    label = "Employee"
    model = Employee
    schema = EmployeeSchema
    list_query = EmployeeListQuery
    sort_fields = ("id", "name", "position", "email", "phone", "created_at", "updated_at")
    archivable = True
    unique_fields = ("email", "phone")
    search_fields = ("name", "email")
    references = (Reference(ProductionRecord, "employee_id", "production records"),)

    def filter_name(self, query, value):
        return query.where(Employee.name == value)
