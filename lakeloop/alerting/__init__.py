"""Alerting: drift becomes an episode, an episode one alert and one retrain.

``policy``        when drift opens an episode, when to retrain, when the episode is over
``sequential``    drift that builds up over days: Page's CUSUM on the days' evidence
``drift_alerts``  each episode action of a day as an alert, in words
``episodes``      episodes as an operator sees them, read back from the alerts log
``outbox``        every alert a row of ``alerts/log`` (Delta), with its delivery state
``channels``      one message to a JSON webhook, Slack, or e-mail; secrets redacted
"""
