"""Models: plain torch / LightGBM / scikit-learn code, no Dagster, no domain names.

``classification/``  any domain with a label (fraud in the demo)
``forecast/``        any domain with series and a target (demand in the demo)
``metrics``          ranking metrics at an alert budget; MASE, sMAPE, WAPE, pinball
``compute``          where torch runs: CUDA when present, else CPU
"""
