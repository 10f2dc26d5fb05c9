package gateway

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// FirstUserLogin is the login of the user the stack creates.
const FirstUserLogin = "partner"

// usersSecret is the secret holding the user list the gateway reads (the
// JSON list of FTP_USERS_JSON): the operator's (existingArn), or a new one
// holding the first user with a generated password and home.
//
// Secrets Manager generates a password only as a key of a JSON object, and
// the list is a JSON array: so the password is generated in a secret of its
// own, and the list is written around a dynamic reference to it, which
// CloudFormation resolves when it creates the list. The template holds no
// password. Operators then edit the list in place (console or
// put-secret-value); CloudFormation rewrites it only if this resource's
// definition changes.
func usersSecret(scope constructs.Construct, existingArn, home string) awssecretsmanager.ISecret {
	if existingArn != "" {
		return awssecretsmanager.Secret_FromSecretCompleteArn(scope, jsii.String("Users"), &existingArn)
	}
	password := awssecretsmanager.NewSecret(scope, jsii.String("FirstUserPassword"), &awssecretsmanager.SecretProps{
		Description: jsii.String("ftps3: the generated password of the first FTP user (copied into the users secret when the stack is created)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			// Letters and digits only: the value is spliced into JSON.
			PasswordLength: jsii.Number(24), ExcludePunctuation: jsii.Bool(true), IncludeSpace: jsii.Bool(false),
		},
	})
	list := awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String(`[{"login":"` + FirstUserLogin + `","password":"`),
		password.SecretValue().UnsafeUnwrap(), // a {{resolve:secretsmanager:...}} reference, not the value
		jsii.String(`","home":"` + home + `"}]`),
	})
	return awssecretsmanager.NewSecret(scope, jsii.String("Users"), &awssecretsmanager.SecretProps{
		Description:       jsii.String("ftps3: the FTP/SFTP user list (JSON, as FTP_USERS_JSON); edit it to add, change or remove users: the gateway reloads it within a minute"),
		SecretStringValue: awscdk.SecretValue_UnsafePlainText(list),
	})
}

// grantUsersSecret lets the task role read the user list: GetSecretValue on
// the secret, and Decrypt with its customer managed key (keyArn) through
// Secrets Manager. A secret under the AWS managed key needs no key grant.
func grantUsersSecret(role awsiam.IRole, secret awssecretsmanager.ISecret, keyArn string) {
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("secretsmanager:GetSecretValue"), Resources: &[]*string{secret.SecretArn()},
	}))
	if keyArn != "" {
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("kms:Decrypt"), Resources: jsii.Strings(keyArn),
			Conditions: &map[string]any{"StringEquals": map[string]any{
				"kms:ViaService": "secretsmanager." + *awscdk.Stack_Of(role).Region() + ".amazonaws.com",
			}},
		}))
	}
}
