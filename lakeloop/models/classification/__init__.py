"""Classification candidates of a domain with a label, and how one is chosen.

``config``      network settings, in a module without torch (Dagster config imports it)
``network``     the shared preprocessing, Platt calibration and the first torch network
``tabm``        TabM (Gorishniy et al. 2025) on piecewise-linear numeric embeddings
``trees``       LightGBM, stored in its own text format
``baselines``   logistic regression: the reference floor, reported, never served
``importance``  what a model relies on per input (gain, permutation): drift's weights
``lifecycle``   train every candidate, pick one on validation, judge it against the champion
``smoke``       a registered model loaded and scored in a child process before it serves
"""
