def main(req): pass
