"""Staff accounts: the two-step login (password, then a second factor), setting up and removing
the second factor, a superuser's reset of someone else's, and the throttled password reset.

``mfa`` holds the rules and actions of the second factor (django-otp devices), ``passwords``
the reset links' lifetime and throttle; ``views`` and ``forms`` are the pages, ``urls`` the
whole ``/accounts/`` map, and ``middleware`` keeps ``/staff/`` and ``/admin/`` shut until the
second factor is passed.
"""
