"""ctcocr: read short lines of text in images (CAPTCHAs, house numbers, plates) with CNN+CTC.

>>> from ctcocr import Recognizer
>>> Recognizer("runs/captcha").predict("captcha.png")
Prediction(text='7K3QX', confidence=0.998, char_confidences=(...), rejected=False, candidates=())
"""

__version__ = "0.1.0"

from ctcocr.decode import Prediction
from ctcocr.decoding import DecodeOptions
from ctcocr.errors import CtcocrError
from ctcocr.recognizer import Recognizer

__all__ = ["CtcocrError", "DecodeOptions", "Prediction", "Recognizer", "__version__"]
