"""Monitoring: has the data or the model moved, judged against the team's own history.

``measure``              a day's drift statistics against a reference: distances, shares, views
``calibration``          thresholds learnt from the champion's history, to a false-alarm budget
``drift``                the day's verdict and its Evidently report (measure + calibration)
``domain_monitor``       what each domain is measured on: reference windows, stored calibrations
``performance_decay``    realised performance against what the champion promised
``quality_reports``      Evidently reports of realised model quality, once labels mature
``evidently_workspace``  each day's snapshot in the Evidently workspace (``evidently ui``)
``rebaseline``           an operator accepts a new normal as the drift reference
"""
