"""Registry: versioned models on the lake root (local or S3) and who serves.

``model_registry``  versions, their files and metadata, the champion pointer, checksums
``promotion``       champion/challenger: promote only what beats the champion beyond noise
``describe``        why the champion serves, and each model's versions, in words
"""
