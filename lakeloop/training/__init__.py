"""Training: which rows a model learns from, rebuilt exactly from recorded Delta versions.

``split``          which days train, validate and test (rolling or explicit)
``training_sets``  point-in-time training sets of a classification domain (matured labels)
``columns``        the columns lakeloop adds to a training set (label, split)
"""
