"""The approval console: server-rendered pages where people see what a workflow will change and decide on it.

- `diff`: a plan's changes as rows a person reads (where, setting, from -> to; keys by thumbprint, validity, target).
- `model`: the pages' view models, built from Durable statuses and registry rows (pure).
- `csrf`: the same-origin check and the decision token that protect the page's POST.
- `pages`: the Jinja2 environment (autoescaping) and the security headers every page carries.
The routes are functions/console.py; decisions go through the API's own functions.http_api.decide.
"""
