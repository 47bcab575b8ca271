"""`{% page_query "page" 3 %}`: the current query string with one page parameter changed.

Django's `{% querystring %}` takes the parameter name literally; a page with two paginated tables
(the staff console) needs the name as a value, so the one pager partial uses this instead.
"""

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def page_query(context, param: str, number: int) -> str:
    params = context["request"].GET.copy()
    params[param] = number
    return f"?{params.urlencode()}"
