"""`xlaflow serve`: a TensorFlow-Serving-compatible model server for xlaflow exports.

One module per role: source (which versions exist), loader (export -> warmed servable),
manager (version policy, ref-counted handles), batching, the HTTP app (TF Serving REST and
the Open Inference Protocol), metrics, config files, and server (the command line).
"""
