"""The ``lakeloop`` command and what it prints.

``cli``             ``lakeloop simulate | demo | models | monitoring``
``models_cli``      list, show, promote and roll back registry versions
``monitoring_cli``  accept a new normal, show what a domain is measured on
``demo_report``     the closed-loop demo's summary and timeline plot
"""
