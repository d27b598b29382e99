"""The web dashboard's machinery (see :mod:`asyncjobs.dashboard`): the ledger's data as the pages
show it, the token and its session, the charts, the WSGI application, its templates and files."""
