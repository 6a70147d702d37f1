"""ctcocr: read short lines of text in images (CAPTCHAs, house numbers, plates) with CNN+CTC.

>>> from ctcocr import Recognizer
>>> Recognizer("runs/captcha").predict("captcha.png")
Prediction(text='7K3QX', confidence=0.998, char_confidences=(...), rejected=False, candidates=())
"""

from ctcocr.core.errors import CtcocrError
from ctcocr.core.version import __version__
from ctcocr.decoding.decoder import DecodeOptions
from ctcocr.decoding.prediction import Prediction
from ctcocr.runtime.recognizer import Recognizer

__all__ = ["CtcocrError", "DecodeOptions", "Prediction", "Recognizer", "__version__"]
