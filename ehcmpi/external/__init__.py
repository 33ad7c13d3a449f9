"""Adapters to external interfaces (guideline §6.5 外部接口): the 社保/医保身份识别系统 client
and its simulator.  Wired by ``ehcmpi.bootstrap``; the core sees only its ports."""
