package lakehouse.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import javax.security.sasl.AuthenticationException;
import org.apache.hive.service.auth.PasswdAuthenticationProvider;

/**
 * Thrift (HiveServer2) CUSTOM authentication for the lakehouse server: a client is let in when
 * its password is the server's secret, which the server's launcher passes in the environment
 * variable LAKEHOUSE_THRIFT_SECRET. Any user name is accepted; the secret is compared in
 * constant time and never logged.
 */
public final class SecretAuthenticator implements PasswdAuthenticationProvider {
  static final String VARIABLE = "LAKEHOUSE_THRIFT_SECRET";

  @Override
  public void Authenticate(String user, String password) throws AuthenticationException {
    String secret = System.getenv(VARIABLE);
    if (secret == null || secret.isEmpty()) {
      throw new AuthenticationException("the server was started without a secret (" + VARIABLE + ")");
    }
    byte[] expected = secret.getBytes(StandardCharsets.UTF_8);
    byte[] given = password == null ? new byte[0] : password.getBytes(StandardCharsets.UTF_8);
    if (!MessageDigest.isEqual(expected, given)) {
      throw new AuthenticationException(
          "wrong or missing password for user " + user + ": the password is the lakehouse secret");
    }
  }
}
