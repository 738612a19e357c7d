"""Forecast candidates of a domain with series and a target, and how one is chosen.

``nhits``         a global N-HiTS (pytorch-forecasting) with quantile outputs
``window_cache``  training windows built once, served from memory
``baselines``     rules that can serve: seasonal naive, weekday mean, moving average
``backtest``      rolling-origin backtest of every candidate on the same origins
``lifecycle``     train, backtest, choose, promote; forecasts issued after the day
"""
