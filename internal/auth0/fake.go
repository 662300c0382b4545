package auth0

import (
	"context"
	"errors"
)

// Fake is a Client made of function fields, for unit tests: set the fields a test needs; the
// others answer an error naming the method.
type Fake struct {
	CreateUserFunc            func(ctx context.Context, u UserCreate) (*User, error)
	GetUserFunc               func(ctx context.Context, id string) (*User, error)
	GetUsersFunc              func(ctx context.Context, ids []string) (map[string]*User, error)
	UsersByEmailFunc          func(ctx context.Context, email string) ([]*User, error)
	SearchUsersFunc           func(ctx context.Context, query string, limit int) ([]*User, error)
	SearchUsersPageFunc       func(ctx context.Context, query, sort string, page, perPage int) (UserPage, error)
	UpdateUserFunc            func(ctx context.Context, id string, u UserUpdate) (*User, error)
	DeleteUserFunc            func(ctx context.Context, id string) error
	ListRolesFunc             func(ctx context.Context) ([]Role, error)
	RoleUserIDsFunc           func(ctx context.Context, roleID string) ([]string, error)
	AssignRoleToUsersFunc     func(ctx context.Context, roleID string, userIDs []string) error
	UserRolesFunc             func(ctx context.Context, userID string) ([]Role, error)
	AssignUserRolesFunc       func(ctx context.Context, userID string, roleIDs []string) error
	RemoveUserRolesFunc       func(ctx context.Context, userID string, roleIDs []string) error
	UserPermissionsFunc       func(ctx context.Context, userID string) ([]Permission, error)
	AssignUserPermissionsFunc func(ctx context.Context, userID string, perms []Permission) error
	RemoveUserPermissionsFunc func(ctx context.Context, userID string, perms []Permission) error
	GetResourceServerFunc     func(ctx context.Context, identifier string) (*ResourceServer, error)
}

var _ Client = (*Fake)(nil)

func notSet(method string) error { return errors.New("auth0 fake: " + method + " not implemented") }

func (f *Fake) CreateUser(ctx context.Context, u UserCreate) (*User, error) {
	if f.CreateUserFunc == nil {
		return nil, notSet("CreateUser")
	}
	return f.CreateUserFunc(ctx, u)
}

func (f *Fake) GetUser(ctx context.Context, id string) (*User, error) {
	if f.GetUserFunc == nil {
		return nil, notSet("GetUser")
	}
	return f.GetUserFunc(ctx, id)
}

func (f *Fake) GetUsers(ctx context.Context, ids []string) (map[string]*User, error) {
	if f.GetUsersFunc == nil {
		return nil, notSet("GetUsers")
	}
	return f.GetUsersFunc(ctx, ids)
}

func (f *Fake) UsersByEmail(ctx context.Context, email string) ([]*User, error) {
	if f.UsersByEmailFunc == nil {
		return nil, notSet("UsersByEmail")
	}
	return f.UsersByEmailFunc(ctx, email)
}

func (f *Fake) SearchUsers(ctx context.Context, query string, limit int) ([]*User, error) {
	if f.SearchUsersFunc == nil {
		return nil, notSet("SearchUsers")
	}
	return f.SearchUsersFunc(ctx, query, limit)
}

func (f *Fake) UpdateUser(ctx context.Context, id string, u UserUpdate) (*User, error) {
	if f.UpdateUserFunc == nil {
		return nil, notSet("UpdateUser")
	}
	return f.UpdateUserFunc(ctx, id, u)
}

func (f *Fake) DeleteUser(ctx context.Context, id string) error {
	if f.DeleteUserFunc == nil {
		return notSet("DeleteUser")
	}
	return f.DeleteUserFunc(ctx, id)
}

func (f *Fake) ListRoles(ctx context.Context) ([]Role, error) {
	if f.ListRolesFunc == nil {
		return nil, notSet("ListRoles")
	}
	return f.ListRolesFunc(ctx)
}

func (f *Fake) RoleUserIDs(ctx context.Context, roleID string) ([]string, error) {
	if f.RoleUserIDsFunc == nil {
		return nil, notSet("RoleUserIDs")
	}
	return f.RoleUserIDsFunc(ctx, roleID)
}

func (f *Fake) AssignRoleToUsers(ctx context.Context, roleID string, userIDs []string) error {
	if f.AssignRoleToUsersFunc == nil {
		return notSet("AssignRoleToUsers")
	}
	return f.AssignRoleToUsersFunc(ctx, roleID, userIDs)
}

func (f *Fake) UserRoles(ctx context.Context, userID string) ([]Role, error) {
	if f.UserRolesFunc == nil {
		return nil, notSet("UserRoles")
	}
	return f.UserRolesFunc(ctx, userID)
}

func (f *Fake) AssignUserRoles(ctx context.Context, userID string, roleIDs []string) error {
	if f.AssignUserRolesFunc == nil {
		return notSet("AssignUserRoles")
	}
	return f.AssignUserRolesFunc(ctx, userID, roleIDs)
}

func (f *Fake) RemoveUserRoles(ctx context.Context, userID string, roleIDs []string) error {
	if f.RemoveUserRolesFunc == nil {
		return notSet("RemoveUserRoles")
	}
	return f.RemoveUserRolesFunc(ctx, userID, roleIDs)
}

func (f *Fake) UserPermissions(ctx context.Context, userID string) ([]Permission, error) {
	if f.UserPermissionsFunc == nil {
		return nil, notSet("UserPermissions")
	}
	return f.UserPermissionsFunc(ctx, userID)
}

func (f *Fake) AssignUserPermissions(ctx context.Context, userID string, perms []Permission) error {
	if f.AssignUserPermissionsFunc == nil {
		return notSet("AssignUserPermissions")
	}
	return f.AssignUserPermissionsFunc(ctx, userID, perms)
}

func (f *Fake) RemoveUserPermissions(ctx context.Context, userID string, perms []Permission) error {
	if f.RemoveUserPermissionsFunc == nil {
		return notSet("RemoveUserPermissions")
	}
	return f.RemoveUserPermissionsFunc(ctx, userID, perms)
}

func (f *Fake) GetResourceServer(ctx context.Context, identifier string) (*ResourceServer, error) {
	if f.GetResourceServerFunc == nil {
		return nil, notSet("GetResourceServer")
	}
	return f.GetResourceServerFunc(ctx, identifier)
}

func (f *Fake) SearchUsersPage(ctx context.Context, query, sort string, page, perPage int) (UserPage, error) {
	if f.SearchUsersPageFunc == nil {
		return UserPage{}, notSet("SearchUsersPage")
	}
	return f.SearchUsersPageFunc(ctx, query, sort, page, perPage)
}
