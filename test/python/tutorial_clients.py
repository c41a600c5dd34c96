"""What readers of the five Flask tutorials do with Python `requests`, against a running Gatehouse.

Run it against a fresh server started with an admin (usernames are fixed, so a second run against
the same database meets 409s):

    ADMIN_USERNAME=admin ADMIN_PASSWORD='choose a long admin password' npm start
    python3 test/python/tutorial_clients.py

GATEHOUSE_URL, ADMIN_USERNAME and ADMIN_PASSWORD override the defaults below
(test/tutorial-clients.test.ts passes the server it started). Exits non-zero when a check fails.
The ```python blocks of docs/tutorial-clients.md are copied from here; that test checks they
still are, so keep a block's lines together when editing.
"""

import os
import sys
import unittest

import requests

url = 'http://127.0.0.1:3000'
admin = ('admin', 'choose a long admin password')

url = os.environ.get('GATEHOUSE_URL', url)
admin = (os.environ.get('ADMIN_USERNAME', admin[0]), os.environ.get('ADMIN_PASSWORD', admin[1]))


def setUpModule():
    r = requests.post(url + '/api/v1/auth/register',
                      json={'username': 'alice', 'password': 'correct horse battery staple',
                            'name': 'Alice'})
    assert r.status_code == 201, r.text


def login_alice():
    r = requests.post(url + '/api/v1/auth/login',
                      json={'username': 'alice', 'password': 'correct horse battery staple'})
    assert r.status_code == 200, r.text
    return r.json()


def assert_problem(r, status, title):
    """An RFC 9457 problem: the status, its media type and the title a client shows."""
    assert r.status_code == status, f'{r.status_code} {r.text}'
    assert r.headers['Content-Type'].startswith('application/problem+json'), r.headers
    problem = r.json()
    assert problem['status'] == status, problem
    assert problem['title'] == title, problem


class Tutorials(unittest.TestCase):
    def test_flask_httpauth_basic_auth(self):
        password = 'Grüße: aus Köln, Straße 9'
        r = requests.post(url + '/api/v1/auth/register',
                          json={'username': 'miguel', 'password': password, 'name': 'Miguel'})
        assert r.status_code == 201, r.text

        # requests encodes a str username and password as Latin-1.
        r = requests.get(url + '/api/v1/private', auth=('miguel', password))
        assert r.status_code == 200, r.text
        assert r.json() == {'meaning_of_life': 42}

        self.assertEqual(r.request.headers['Authorization'],
                         'Basic bWlndWVsOkdy/N9lOiBhdXMgS/ZsbiwgU3RyYd9lIDk=',
                         'requests no longer sends Latin-1, so this no longer tests that')

        password = 'пароль для Гейтхауса'
        r = requests.post(url + '/api/v1/auth/register',
                          json={'username': 'olga', 'password': password, 'name': 'Olga'})
        assert r.status_code == 201, r.text

        # Beyond Latin-1, give requests the UTF-8 bytes.
        r = requests.get(url + '/api/v1/private', auth=('olga', password.encode('utf-8')))
        assert r.status_code == 200, r.text

        r = requests.get(url + '/api/v1/private', auth=('miguel', 'not the right password'))
        assert r.status_code == 401, r.text
        assert r.headers['WWW-Authenticate'] == 'Basic realm="gatehouse", charset="UTF-8"'
        assert r.headers['Content-Type'].startswith('application/problem+json')
        assert r.json()['title'] == 'Invalid username or password'

        # Passwords are compared after NFKC, so a decomposed "ü" (u + U+0308) is the same password.
        decomposed = 'Gru\u0308ße: aus Ko\u0308ln, Straße 9'
        r = requests.get(url + '/api/v1/private', auth=('miguel', decomposed.encode('utf-8')))
        assert r.status_code == 200, r.text

    def test_flask_jwt_header(self):
        r = requests.post(url + '/api/v1/auth/login',
                          json={'username': 'alice', 'password': 'correct horse battery staple'})
        token = r.json()['access_token']

        r = requests.get(url + '/api/v1/private', headers={'Authorization': 'JWT ' + token})
        assert r.status_code == 200, r.text
        assert r.json() == {'meaning_of_life': 42}

        r = requests.get(url + '/api/v1/private', headers={'Authorization': 'Bearer ' + token})
        assert r.status_code == 200, r.text

    def test_pyjwt_login_form(self):
        r = requests.post(url + '/api/v1/auth/login',
                          data={'username': 'alice', 'password': 'correct horse battery staple'})
        assert r.status_code == 200, r.text
        token = r.json()['access_token']
        assert r.headers['Cache-Control'] == 'no-store'

        r = requests.post(url + '/api/v1/auth/login',
                          data={'username': 'alice', 'password': 'not her password'})
        assert r.status_code == 401, r.text
        assert r.json()['title'] == 'Invalid username or password'

        # The same answer for a user that does not exist.
        r = requests.post(url + '/api/v1/auth/login',
                          data={'username': 'nobody', 'password': 'not her password'})
        assert_problem(r, 401, 'Invalid username or password')

        r = requests.get(url + '/api/v1/private', headers={'Authorization': 'Bearer ' + token})
        assert r.status_code == 200, r.text

        # A form post with a non-ASCII password (percent-encoded UTF-8).
        r = requests.post(url + '/api/v1/auth/register',
                          json={'username': 'francois', 'password': 'mot de passe très secret',
                                'name': 'François'})
        assert r.status_code == 201, r.text
        r = requests.post(url + '/api/v1/auth/login',
                          data={'username': 'francois', 'password': 'mot de passe très secret'})
        assert r.status_code == 200, r.text

    def test_flask_jwt_extended_refresh_and_logout(self):
        r = requests.post(url + '/api/v1/auth/login',
                          json={'username': 'alice', 'password': 'correct horse battery staple'})
        tokens = r.json()

        r = requests.get(url + '/api/v1/private',
                         headers={'Authorization': 'Bearer ' + tokens['access_token']})
        assert r.json() == {'meaning_of_life': 42}

        # The refresh token goes in the body; it works once and comes back with a new pair.
        r = requests.post(url + '/api/v1/auth/refresh',
                          json={'refresh_token': tokens['refresh_token']})
        assert r.status_code == 200, r.text
        tokens = r.json()

        r = requests.post(url + '/api/v1/auth/logout',
                          headers={'Authorization': 'Bearer ' + tokens['access_token']},
                          json={'refresh_token': tokens['refresh_token']})
        assert r.status_code == 204, r.text

        r = requests.get(url + '/api/v1/private',
                         headers={'Authorization': 'Bearer ' + tokens['access_token']})
        assert r.status_code == 401, r.text
        assert r.json()['title'] == 'Invalid token'

        assert 'error="invalid_token"' in r.headers['WWW-Authenticate'], r.headers
        r = requests.post(url + '/api/v1/auth/refresh',
                          json={'refresh_token': tokens['refresh_token']})
        assert_problem(r, 401, 'Invalid refresh token')

    def test_flask_jwt_extended_roles(self):
        r = requests.get(url + '/api/v1/users', auth=('alice', 'correct horse battery staple'))
        assert r.status_code == 403, r.text
        assert r.json()['title'] == 'Admins only'

        r = requests.get(url + '/api/v1/users', auth=admin)
        assert r.status_code == 200, r.text

        assert 'alice' in [user['username'] for user in r.json()['items']]

    def test_todo_api(self):
        r = requests.post(url + '/api/v1/auth/login',
                          json={'username': 'alice', 'password': 'correct horse battery staple'})
        headers = {'Authorization': 'Bearer ' + r.json()['access_token']}

        r = requests.post(url + '/api/v1/todos', headers=headers,
                          json={'title': 'Write the tutorial', 'due': '2026-12-24'})
        assert r.status_code == 201, r.text
        todo = r.json()

        r = requests.get(url + '/api/v1/todos', headers=headers)
        assert [t['title'] for t in r.json()['items']] == ['Write the tutorial']

        r = requests.get(url + '/api/v1/todos/' + todo['id'], headers=headers)
        assert r.json()['done'] is False

        r = requests.put(url + '/api/v1/todos/' + todo['id'], headers=headers,
                         json={'title': 'Write the tutorial, part 2', 'public': True})
        assert r.status_code == 200, r.text

        r = requests.patch(url + '/api/v1/todos/' + todo['id'], headers=headers,
                           json={'description': 'Almost there'})
        assert r.json()['title'] == 'Write the tutorial, part 2'

        # Only an admin marks a todo done.
        r = requests.patch(url + '/api/v1/todos/' + todo['id'], headers=headers,
                           json={'done': True})
        assert r.status_code == 403, r.text
        r = requests.patch(url + '/api/v1/todos/' + todo['id'], auth=admin, json={'done': True})
        assert r.json()['done'] is True

        r = requests.delete(url + '/api/v1/todos/' + todo['id'], headers=headers)
        assert r.status_code == 204, r.text

        r = requests.get(url + '/api/v1/todos/' + todo['id'], headers=headers)
        assert r.status_code == 404, r.text

    def test_mailing_list(self):
        r = requests.post(url + '/api/v1/subscribers', auth=admin,
                          json={'name': 'Ann', 'email': 'ann@example.com'})
        assert r.status_code == 201, r.text
        subscriber = r.json()
        assert subscriber['status'] == 'confirmed'

        r = requests.get(url + '/api/v1/subscribers', auth=admin)
        assert 'ann@example.com' in [s['email'] for s in r.json()['items']]

        r = requests.get(url + '/api/v1/subscribers/' + subscriber['id'], auth=admin)
        assert r.json()['name'] == 'Ann'

        r = requests.put(url + '/api/v1/subscribers/' + subscriber['id'], auth=admin,
                         json={'name': 'Ann Smith', 'email': 'ann.smith@example.com'})
        assert r.status_code == 200, r.text

        r = requests.patch(url + '/api/v1/subscribers/' + subscriber['id'], auth=admin,
                           json={'status': 'unsubscribed'})
        assert r.json()['status'] == 'unsubscribed'

        r = requests.delete(url + '/api/v1/subscribers/' + subscriber['id'], auth=admin)
        assert r.status_code == 204, r.text

        r = requests.get(url + '/api/v1/subscribers/' + subscriber['id'], auth=admin)
        assert r.status_code == 404, r.text

        # Anyone may sign up; the address is confirmed by mail.
        r = requests.post(url + '/api/v1/subscribers',
                          json={'name': 'Cleo', 'email': 'cleo@example.com'})
        assert r.status_code == 202, r.text
        assert r.json() == {'status': 'pending'}

        r = requests.get(url + '/api/v1/subscribers', auth=admin, params={'status': 'pending'})
        assert [s['email'] for s in r.json()['items']] == ['cleo@example.com']

        r = requests.post(url + '/api/v1/subscribers', auth=admin,
                          json={'name': 'Ben', 'email': 'ben@example.com'})
        ben = r.json()
        assert r.headers['Location'] == '/api/v1/subscribers/' + ben['id']
        r = requests.post(url + '/api/v1/subscribers', auth=admin,
                          json={'name': 'Ben again', 'email': 'BEN@example.com'})
        assert_problem(r, 409, 'Email already subscribed')

        # An ETag from before someone else's change: 412.
        etag = requests.get(url + '/api/v1/subscribers/' + ben['id'], auth=admin).headers['ETag']
        requests.patch(url + '/api/v1/subscribers/' + ben['id'], auth=admin, json={'name': 'Benny'})
        r = requests.patch(url + '/api/v1/subscribers/' + ben['id'], auth=admin,
                           json={'name': 'Benjamin'}, headers={'If-Match': etag})
        assert r.status_code == 412, r.text

        r = requests.get(url + '/api/v1/subscribers', auth=('alice', 'correct horse battery staple'))
        assert_problem(r, 403, 'Admins only')

    def test_errors(self):
        r = requests.get(url + '/api/v1/private')
        assert r.status_code == 401, r.text
        # requests joins the two WWW-Authenticate headers with ", ".
        assert r.headers['WWW-Authenticate'] == (
            'Bearer realm="gatehouse", Basic realm="gatehouse", charset="UTF-8"')

        r = requests.get(url + '/api/v1/private', headers={'Authorization': 'JWT not.a.token'})
        assert r.status_code == 401, r.text
        assert r.json()['title'] == 'Invalid token'

        # Unknown fields are refused (no mass assignment), and each error names its field.
        r = requests.post(url + '/api/v1/auth/register',
                          json={'username': 'mallory', 'password': 'a long enough password',
                                'name': 'Mallory', 'role': 'admin'})
        assert r.status_code == 400, r.text
        assert r.json()['errors'] == [{'path': 'body/role', 'message': 'Unexpected property'}]

        # data=json.dumps(...) sends no JSON content type.
        r = requests.post(url + '/api/v1/auth/register',
                          data='{"username": "bob", "password": "bob password 2026", "name": "Bob"}')
        assert r.status_code == 415, r.text

        assert_problem(r, 415, 'Unsupported media type')
        r = requests.post(url + '/api/v1/auth/register',
                          json={'username': 'alice', 'password': 'another long password', 'name': 'A'})
        assert_problem(r, 409, 'Username taken')
        r = requests.post(url + '/api/v1/auth/register',
                          json={'username': 'weak', 'password': 'password1234', 'name': 'W'})
        assert_problem(r, 400, 'Validation failed')
        assert r.json()['errors'][0]['path'] == 'body/password', r.text
        r = requests.get(url + '/api/v1/public')
        assert r.json() == {'message': 'This is a public page'}
        r = requests.post(url + '/api/v1/todos', json={'title': 'anonymous'})
        assert_problem(r, 401, 'Unauthorized')


if __name__ == '__main__':
    print(f'tutorial clients: requests {requests.__version__}, Python {sys.version.split()[0]}, '
          f'{url}', file=sys.stderr)
    unittest.main(verbosity=2)
