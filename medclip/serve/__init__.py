"""medclip-serve: an HTTP inference service and browser app for medclip / open_clip models.

* :mod:`medclip.serve.config`: :class:`ServeConfig` (limits, batching, security settings).
* :mod:`medclip.serve.images`: upload sniffing (magic bytes) and bounded decoding of PNG/JPEG/TIFF/DICOM.
* :mod:`medclip.serve.classes`: suite class sets from the shipped ``configs/eval/*.yaml``, saved temperatures.
* :mod:`medclip.serve.batcher`: dynamic micro-batching of image encodes.
* :mod:`medclip.serve.metrics`: Prometheus text exposition (counters, histograms) written by hand.
* :mod:`medclip.serve.runtime`: a loaded model with its batcher and text-classifier cache.
* :mod:`medclip.serve.app`: the FastAPI application (``create_app``); :mod:`medclip.serve.cli`: ``medclip-serve``.

FastAPI, uvicorn and python-multipart come with the optional extra ``serve``; ``import medclip`` does not
import this package.
"""
