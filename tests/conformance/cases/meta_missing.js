return 'ran without meta'
