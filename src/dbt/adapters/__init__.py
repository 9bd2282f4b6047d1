# A pkgutil-style namespace, like dbt-core's own: dbt finds adapter plugins under dbt.adapters.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
